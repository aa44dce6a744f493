package cli

import (
	"cmp"
	"context"
	"errors"
	"flag"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// resetTarget is where reset-offsets moves each partition: exactly one of
// the --to-* or --shift-by flags.
type resetTarget struct {
	earliest, latest bool
	offset           *int64
	datetime         *time.Time
	shift            *int64
}

// register defines the --to-* and --shift-by flags.
func (r *resetTarget) register(fs *flag.FlagSet) {
	fs.BoolVar(&r.earliest, "to-earliest", false, "to each partition's log start")
	fs.BoolVar(&r.latest, "to-latest", false, "to each partition's end (skip everything)")
	fs.Func("to-offset", "to this `offset` (clamped to the log's range)", func(s string) error {
		n, err := strconv.ParseInt(s, 10, 64)
		r.offset = &n
		return err
	})
	fs.Func("to-datetime", "to the first record at or after this `time` (RFC 3339, e.g. 2026-01-02T15:04:05Z)", func(s string) error {
		t, err := time.Parse(time.RFC3339, s)
		r.datetime = &t
		return err
	})
	fs.Func("shift-by", "move each committed offset by `n` (negative: back; clamped)", func(s string) error {
		n, err := strconv.ParseInt(s, 10, 64)
		r.shift = &n
		return err
	})
}

func (r *resetTarget) count() int {
	n := 0
	for _, set := range []bool{r.earliest, r.latest, r.offset != nil, r.datetime != nil, r.shift != nil} {
		if set {
			n++
		}
	}
	return n
}

// resetRow is one partition of the plan.
type resetRow struct {
	Topic         string `json:"topic"`
	Partition     int32  `json:"partition"`
	CurrentOffset int64  `json:"current_offset"` // -1: nothing committed
	NewOffset     int64  `json:"new_offset"`
	Error         string `json:"error,omitempty"`
}

type resetPlan struct {
	Group      string     `json:"group"`
	Executed   bool       `json:"executed"`
	Partitions []resetRow `json:"partitions"`
}

func groupResetOffsets(e *env, args []string) error {
	fs := e.flags("GROUP", "Move a consumer group's committed offsets. Without --execute, only shows the plan.\n"+
		"The group must have no active members (stop its consumers first).")
	var target resetTarget
	target.register(fs)
	var topicArgs []string
	fs.Func("topic", "reset this `topic`, or TOPIC:P,P... for some partitions (repeatable)", func(s string) error {
		topicArgs = append(topicArgs, s)
		return nil
	})
	allTopics := fs.Bool("all-topics", false, "reset every topic the group has offsets for")
	execute := fs.Bool("execute", false, "commit the new offsets (else a dry run)")
	positional, err := e.parse(fs, args, 1, 1, "group name")
	if err != nil {
		return err
	}
	if target.count() != 1 {
		return usageErrorf("want exactly one of --to-earliest, --to-latest, --to-offset, --to-datetime, --shift-by")
	}
	if (len(topicArgs) > 0) == *allTopics {
		return usageErrorf("want --topic (repeatable) or --all-topics")
	}
	only, err := parseTopicPartitions(topicArgs)
	if err != nil {
		return err
	}
	adm, ctx, done, err := e.admin(kmsg.DescribeGroups, kmsg.OffsetFetch, kmsg.ListOffsets, kmsg.OffsetCommit)
	if err != nil {
		return err
	}
	defer done()
	group := positional[0]
	plan, err := planReset(ctx, adm, group, only, target)
	if err != nil {
		return err
	}
	if *execute {
		if err := commitReset(ctx, adm, &plan); err != nil {
			return err
		}
	}
	t := newTable("GROUP", "TOPIC", "PARTITION", "CURRENT-OFFSET", "NEW-OFFSET", "ERROR")
	failed := false
	for _, r := range plan.Partitions {
		t.add(group, r.Topic, r.Partition, r.CurrentOffset, r.NewOffset, r.Error)
		if r.Error != "" {
			e.fail(fmt.Sprintf("%s[%d]", r.Topic, r.Partition), errors.New(r.Error))
			failed = true
		}
	}
	if err := e.print(t, plan); err != nil {
		return err
	}
	if failed {
		return errReported
	}
	if !*execute {
		fmt.Fprintf(e.stderr, "riffle %s: dry run, nothing committed; add --execute to commit\n", e.name)
	}
	return nil
}

// parseTopicPartitions reads --topic values: TOPIC (every partition, nil)
// or TOPIC:P,P,...
func parseTopicPartitions(args []string) (map[string][]int32, error) {
	only := map[string][]int32{}
	for _, a := range args {
		topic, list, hasList := strings.Cut(a, ":")
		if topic == "" {
			return nil, usageErrorf("--topic %q: empty topic name", a)
		}
		only[topic] = nil
		if !hasList {
			continue
		}
		for _, p := range strings.Split(list, ",") {
			n, err := strconv.ParseInt(p, 10, 32)
			if err != nil || n < 0 {
				return nil, usageErrorf("--topic %q: partition %q is not a partition number", a, p)
			}
			only[topic] = append(only[topic], int32(n))
		}
	}
	return only, nil
}

// planReset works out the new offset of every partition to reset, after
// checking the group has no members that would overwrite the commit.
func planReset(ctx context.Context, adm *kadm.Client, group string, only map[string][]int32, target resetTarget) (resetPlan, error) {
	plan := resetPlan{Group: group, Partitions: []resetRow{}}
	described, err := adm.DescribeGroups(ctx, group)
	if err != nil {
		return plan, err
	}
	if d, ok := described[group]; ok {
		if d.Err != nil {
			return plan, fmt.Errorf("group %s: %w", group, d.Err)
		}
		if len(d.Members) > 0 {
			return plan, fmt.Errorf("group %s is %s with %d members; stop its consumers first", group, d.State, len(d.Members))
		}
	}
	committed, err := adm.FetchOffsets(ctx, group)
	if err != nil {
		return plan, fmt.Errorf("group %s: committed offsets: %w", group, err)
	}
	if err := committed.Error(); err != nil {
		return plan, fmt.Errorf("group %s: committed offsets: %w", group, err)
	}
	if len(only) == 0 { // --all-topics
		for topic := range committed.Offsets().TopicsSet() {
			only[topic] = nil
		}
	}
	topics := make([]string, 0, len(only))
	for t := range only {
		topics = append(topics, t)
	}
	starts, ends, err := offsetRange(ctx, adm, topics)
	if err != nil {
		return plan, err
	}
	var atTime kadm.ListedOffsets
	if target.datetime != nil {
		if atTime, err = adm.ListOffsetsAfterMilli(ctx, target.datetime.UnixMilli(), topics...); err != nil {
			return plan, fmt.Errorf("offsets at %v: %w", target.datetime, err)
		}
	}
	for _, end := range sortedOffsets(ends) {
		if !wanted(only[end.Topic], end.Partition) {
			continue
		}
		row := resetRow{Topic: end.Topic, Partition: end.Partition, CurrentOffset: -1}
		if c, ok := committed.Lookup(end.Topic, end.Partition); ok {
			row.CurrentOffset = c.At
		}
		start, _ := starts.Lookup(end.Topic, end.Partition)
		at, _ := atTime.Lookup(end.Topic, end.Partition)
		if err := errors.Join(start.Err, end.Err, at.Err); err != nil {
			row.Error = err.Error()
		} else {
			row.NewOffset = target.resolve(row.CurrentOffset, start.Offset, end.Offset, at.Offset)
		}
		plan.Partitions = append(plan.Partitions, row)
	}
	for topic, partitions := range only {
		for _, p := range partitions {
			if !slices.ContainsFunc(plan.Partitions, func(r resetRow) bool { return r.Topic == topic && r.Partition == p }) {
				return plan, fmt.Errorf("topic %s has no partition %d", topic, p)
			}
		}
	}
	return plan, nil
}

// resolve is the new offset of one partition whose log spans [start, end);
// atTime is the first offset at or after --to-datetime (the end if none).
func (r *resetTarget) resolve(current, start, end, atTime int64) int64 {
	var want int64
	switch {
	case r.earliest:
		want = start
	case r.latest:
		want = end
	case r.offset != nil:
		want = *r.offset
	case r.datetime != nil:
		want = atTime
	case r.shift != nil:
		want = max(current, start) + *r.shift
	}
	return min(max(want, start), end)
}

func offsetRange(ctx context.Context, adm *kadm.Client, topics []string) (starts, ends kadm.ListedOffsets, err error) {
	if starts, err = adm.ListStartOffsets(ctx, topics...); err != nil {
		return nil, nil, fmt.Errorf("log start offsets: %w", err)
	}
	if ends, err = adm.ListEndOffsets(ctx, topics...); err != nil {
		return nil, nil, fmt.Errorf("end offsets: %w", err)
	}
	return starts, ends, nil
}

// sortedOffsets lists offsets by topic, then partition.
func sortedOffsets(l kadm.ListedOffsets) []kadm.ListedOffset {
	var out []kadm.ListedOffset
	l.Each(func(o kadm.ListedOffset) { out = append(out, o) })
	slices.SortFunc(out, func(a, b kadm.ListedOffset) int {
		return cmp.Or(strings.Compare(a.Topic, b.Topic), cmp.Compare(a.Partition, b.Partition))
	})
	return out
}

// wanted reports whether partition p is to be reset; nil means all.
func wanted(partitions []int32, p int32) bool {
	return partitions == nil || slices.Contains(partitions, p)
}

// commitReset commits the plan's offsets and records per-partition errors.
func commitReset(ctx context.Context, adm *kadm.Client, plan *resetPlan) error {
	offsets := kadm.Offsets{}
	for _, r := range plan.Partitions {
		if r.Error == "" {
			offsets.Add(kadm.Offset{Topic: r.Topic, Partition: r.Partition, At: r.NewOffset, LeaderEpoch: -1})
		}
	}
	resps, err := adm.CommitOffsets(ctx, plan.Group, offsets)
	if err != nil {
		return fmt.Errorf("group %s: commit: %w", plan.Group, err)
	}
	for i, r := range plan.Partitions {
		if resp, ok := resps.Lookup(r.Topic, r.Partition); ok && resp.Err != nil {
			plan.Partitions[i].Error = resp.Err.Error()
		}
	}
	plan.Executed = true
	return nil
}
