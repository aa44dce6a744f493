package cli

import (
	"errors"
	"fmt"
	"sort"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// electResult is one partition's outcome of elect-leaders.
type electResult struct {
	Topic     string `json:"topic"`
	Partition int32  `json:"partition"`
	Status    string `json:"status"` // elected, not needed, or failed
	Error     string `json:"error,omitempty"`
}

func topicElectLeaders(e *env, args []string) error {
	fs := e.flags("", "Elect partition leaders (ElectLeaders): each partition's preferred "+
		"(first) replica, or with --unclean a live replica of a leaderless partition even if "+
		"out of sync (it may lose records). Without --topic, every partition of the cluster.")
	topic := fs.String("topic", "", "elect only this `topic`'s partitions")
	var partitions []int32
	fs.Func("partition", "elect only this `partition` of --topic (repeatable)", func(s string) error {
		var p int32
		if _, err := fmt.Sscan(s, &p); err != nil || p < 0 {
			return fmt.Errorf("want a partition number, got %q", s)
		}
		partitions = append(partitions, p)
		return nil
	})
	unclean := fs.Bool("unclean", false, "unclean election (type 1) instead of preferred")
	if _, err := e.parse(fs, args, 0, 0, ""); err != nil {
		return err
	}
	if *topic == "" && len(partitions) > 0 {
		return usageErrorf("--partition needs --topic")
	}
	how := kadm.ElectPreferredReplica
	if *unclean {
		how = kadm.ElectLiveReplica
	}
	adm, ctx, done, err := e.admin(kmsg.ElectLeaders, kmsg.Metadata)
	if err != nil {
		return err
	}
	defer done()
	var set kadm.TopicsSet // nil: every partition
	if *topic != "" {
		if len(partitions) == 0 {
			details, err := adm.ListTopics(ctx, *topic)
			if err != nil {
				return err
			}
			d := details[*topic]
			if d.Err != nil {
				return fmt.Errorf("topic %s: %w", *topic, d.Err)
			}
			partitions = d.Partitions.Numbers()
		}
		set.Add(*topic, partitions...)
	}
	resps, err := adm.ElectLeaders(ctx, how, set)
	if err != nil {
		return err
	}
	var results []electResult
	for _, ps := range resps {
		for _, r := range ps {
			res := electResult{Topic: r.Topic, Partition: r.Partition, Status: "elected"}
			switch {
			case errors.Is(r.Err, kerr.ElectionNotNeeded):
				res.Status = "not needed"
			case r.Err != nil:
				res.Status, res.Error = "failed", errText(r.Err, r.ErrMessage)
			}
			results = append(results, res)
		}
	}
	sort.Slice(results, func(i, j int) bool {
		a, b := results[i], results[j]
		return a.Topic < b.Topic || a.Topic == b.Topic && a.Partition < b.Partition
	})
	t := newTable("TOPIC", "PARTITION", "STATUS")
	for _, r := range results {
		cell := r.Status
		if r.Error != "" {
			cell = r.Error
		}
		t.add(r.Topic, r.Partition, cell)
	}
	if results == nil {
		results = []electResult{}
	}
	if err := e.print(t, results); err != nil {
		return err
	}
	failed := false
	for _, r := range results {
		if r.Error != "" {
			e.fail(fmt.Sprintf("%s-%d", r.Topic, r.Partition), errors.New(r.Error))
			failed = true
		}
	}
	if failed {
		return errReported
	}
	return nil
}
