package cli

// Log retention tools: topic delete-records (DeleteRecords) and log-dirs
// (DescribeLogDirs).

import (
	"flag"
	"fmt"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// deleteRecordsResult is one partition's outcome of delete-records.
type deleteRecordsResult struct {
	Topic        string `json:"topic"`
	Partition    int32  `json:"partition"`
	LowWatermark int64  `json:"low_watermark"`
	Error        string `json:"error,omitempty"`
}

func topicDeleteRecords(e *env, args []string) error {
	fs := e.flags("", "Delete a partition's records below an offset: its log start offset is raised there, and\n"+
		"consumers can no longer read what lies below. Segments wholly below it are removed from disk.")
	topic := fs.String("topic", "", "the `topic`")
	partition := fs.Int("partition", 0, "the `partition`")
	offset := fs.Int64("offset", 0, "delete the records below this `offset`; -1: every committed record (up to the high watermark)")
	if _, err := e.parse(fs, args, 0, 0, ""); err != nil {
		return err
	}
	if err := requireFlags(fs, "topic", "partition", "offset"); err != nil {
		return err
	}
	if *partition < 0 || *partition > 1<<31-1 {
		return usageErrorf("--partition %d: want a partition number", *partition)
	}
	if *offset < -1 {
		return usageErrorf("--offset %d: want an offset, or -1 for the high watermark", *offset)
	}
	adm, ctx, done, err := e.admin(kmsg.DeleteRecords)
	if err != nil {
		return err
	}
	defer done()
	var offsets kadm.Offsets
	offsets.AddOffset(*topic, int32(*partition), *offset, -1)
	resps, err := adm.DeleteRecords(ctx, offsets)
	if err != nil {
		return err
	}
	r, ok := resps.Lookup(*topic, int32(*partition))
	if !ok {
		return fmt.Errorf("%s-%d: no answer from the brokers", *topic, *partition)
	}
	res := deleteRecordsResult{Topic: r.Topic, Partition: r.Partition, LowWatermark: r.LowWatermark, Error: errText(r.Err, "")}
	t := newTable("TOPIC", "PARTITION", "LOG-START-OFFSET", "STATUS")
	t.add(r.Topic, r.Partition, unknownIfNegative(r.LowWatermark), status("deleted", r.Err, ""))
	if err := e.print(t, []deleteRecordsResult{res}); err != nil {
		return err
	}
	if r.Err != nil {
		e.fail(fmt.Sprintf("%s-%d", r.Topic, r.Partition), r.Err)
		return errReported
	}
	return nil
}

// requireFlags is a usage error naming the first of names not given.
func requireFlags(fs *flag.FlagSet, names ...string) error {
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	for _, n := range names {
		if !set[n] {
			return usageErrorf("missing --%s", n)
		}
	}
	return nil
}

// logDir is one broker's data directory as log-dirs prints it.
type logDir struct {
	Broker      int32           `json:"broker"`
	Dir         string          `json:"dir"`
	TotalBytes  int64           `json:"total_bytes"`
	UsableBytes int64           `json:"usable_bytes"`
	Error       string          `json:"error,omitempty"`
	Partitions  []logDirReplica `json:"partitions"`
}

type logDirReplica struct {
	Topic     string `json:"topic"`
	Partition int32  `json:"partition"`
	SizeBytes int64  `json:"size_bytes"`
	OffsetLag int64  `json:"offset_lag"`
}

func logDirs(e *env, args []string) error {
	fs := e.flags("[TOPIC...]", "Describe every broker's data directories: their file system's size and free space,\n"+
		"and the size on disk of each partition replica in them (of the named topics only, if any).")
	topics, err := e.parse(fs, args, 0, -1, "")
	if err != nil {
		return err
	}
	adm, ctx, done, err := e.admin(kmsg.DescribeLogDirs)
	if err != nil {
		return err
	}
	defer done()
	var set kadm.TopicsSet
	if len(topics) > 0 {
		listed, err := adm.ListTopics(ctx, topics...)
		if err != nil {
			return err
		}
		set = listed.TopicsSet()
	}
	described, err := adm.DescribeAllLogDirs(ctx, set)
	if err != nil {
		return err
	}
	dirs := newTable("BROKER", "DIR", "TOTAL-BYTES", "USABLE-BYTES", "STATUS")
	parts := newTable("BROKER", "DIR", "TOPIC", "PARTITION", "SIZE-BYTES", "OFFSET-LAG")
	var out []logDir
	failed := false
	for _, d := range described.Sorted() {
		ld := logDir{Broker: d.Broker, Dir: d.Dir, TotalBytes: d.TotalBytes, UsableBytes: d.UsableBytes,
			Error: errText(d.Err, ""), Partitions: []logDirReplica{}}
		dirs.add(d.Broker, d.Dir, unknownIfNegative(d.TotalBytes), unknownIfNegative(d.UsableBytes), status("ok", d.Err, ""))
		if d.Err != nil {
			e.fail(fmt.Sprintf("broker %d dir %s", d.Broker, d.Dir), d.Err)
			failed = true
		}
		for _, p := range d.Topics.Sorted() {
			ld.Partitions = append(ld.Partitions, logDirReplica{p.Topic, p.Partition, p.Size, p.OffsetLag})
			parts.add(d.Broker, d.Dir, p.Topic, p.Partition, p.Size, p.OffsetLag)
		}
		out = append(out, ld)
	}
	if err := e.printSections([][]*table{{dirs, parts}}, out); err != nil {
		return err
	}
	if failed {
		return errReported
	}
	return nil
}
