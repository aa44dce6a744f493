package kafka

// DescribeLogDirs v0-4: the broker's one data directory with the partitions
// it hosts, each with its size on disk (segments and indexes); offset lag
// is 0 (no partition is ever moving between directories) and, from v4, the
// file system's total and usable bytes (statfs; -1 when unknown). Topics
// null asks for every hosted partition; named partitions not hosted here
// are left out, as Kafka does.

import (
	"slices"

	"github.com/twmb/franz-go/pkg/kmsg"
	"golang.org/x/sys/unix"
)

func init() {
	register(&api{key: 35, minVersion: 0, maxVersion: 4, serve: serveDescribeLogDirs})
}

func serveDescribeLogDirs(b *Broker, r *request) (kmsg.Response, error) {
	req := r.body.(*kmsg.DescribeLogDirsRequest)
	resp := req.ResponseKind().(*kmsg.DescribeLogDirsResponse)
	dir := kmsg.NewDescribeLogDirsResponseDir()
	dir.Dir = b.cfg.DataDir
	var st unix.Statfs_t
	if err := unix.Statfs(b.cfg.DataDir, &st); err == nil {
		dir.TotalBytes = int64(st.Blocks) * int64(st.Bsize)
		dir.UsableBytes = int64(st.Bavail) * int64(st.Bsize)
	} else {
		b.log.Warn("kafka: statfs of the data dir failed", "dir", b.cfg.DataDir, "err", err)
	}
	wanted := func(topic string, partition int32) bool {
		if req.Topics == nil {
			return true
		}
		return slices.ContainsFunc(req.Topics, func(t kmsg.DescribeLogDirsRequestTopic) bool {
			return t.Topic == topic && slices.Contains(t.Partitions, partition)
		})
	}
	for t := range b.ctrl.Image().Topics() {
		dt := kmsg.NewDescribeLogDirsResponseDirTopic()
		dt.Topic = t.Name
		for _, mp := range t.Partitions {
			p := b.parts.Partition(t.Name, mp.ID)
			if p == nil || !wanted(t.Name, mp.ID) {
				continue
			}
			dp := kmsg.NewDescribeLogDirsResponseDirTopicPartition()
			dp.Partition, dp.Size = mp.ID, p.Log().SizeBytes()
			dt.Partitions = append(dt.Partitions, dp)
		}
		if len(dt.Partitions) > 0 {
			dir.Topics = append(dir.Topics, dt)
		}
	}
	resp.Dirs = []kmsg.DescribeLogDirsResponseDir{dir}
	return resp, nil
}
