package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"strconv"
	"strings"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// reassignment is a partition's reassignment in progress as --list prints
// it.
type reassignment struct {
	Topic     string  `json:"topic"`
	Partition int32   `json:"partition"`
	Replicas  []int32 `json:"replicas"`
	Adding    []int32 `json:"adding"`
	Removing  []int32 `json:"removing"`
}

// reassignResult is the outcome of a reassignment or its cancelling.
type reassignResult struct {
	Topic     string `json:"topic"`
	Partition int32  `json:"partition"`
	Status    string `json:"status"` // in progress, done, cancelled, or failed
	Error     string `json:"error,omitempty"`
}

// brokerList is a --replicas flag: broker ids, comma-separated.
type brokerList []int32

func (l *brokerList) String() string { return "" }

func (l *brokerList) Set(s string) error {
	*l = (*l)[:0]
	for _, f := range strings.Split(s, ",") {
		id, err := strconv.ParseInt(strings.TrimSpace(f), 10, 32)
		if err != nil || id < 0 {
			return fmt.Errorf("want broker ids like 2,3,4, got %q", s)
		}
		*l = append(*l, int32(id))
	}
	return nil
}

func topicReassign(e *env, args []string) error {
	fs := e.flags("", "Move a partition's replicas to other brokers (AlterPartitionReassignments): the new\n"+
		"replicas copy the log from the leader, and once they are in sync the old ones are removed\n"+
		"(the leader too, if it is not kept; a replica kept leads then). --cancel reverts a reassignment\n"+
		"in progress; --list shows those in progress (ListPartitionReassignments).")
	topic := fs.String("topic", "", "the `topic` (with --list: only its partitions)")
	partition := fs.Int("partition", 0, "the `partition`")
	var replicas brokerList
	fs.Var(&replicas, "replicas", "the target replicas, `ids` comma-separated, the preferred leader first")
	cancel := fs.Bool("cancel", false, "cancel the partition's reassignment in progress")
	list := fs.Bool("list", false, "list the reassignments in progress")
	if _, err := e.parse(fs, args, 0, 0, ""); err != nil {
		return err
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	if n := btoi(set["replicas"]) + btoi(*cancel) + btoi(*list); n != 1 {
		return usageErrorf("want exactly one of --replicas, --cancel or --list")
	}
	if *list {
		if set["partition"] {
			return usageErrorf("--list takes --topic, not --partition")
		}
		return listReassignments(e, *topic)
	}
	if err := requireFlags(fs, "topic", "partition"); err != nil {
		return err
	}
	if *partition < 0 || *partition > 1<<31-1 {
		return usageErrorf("--partition %d: want a partition number", *partition)
	}
	return alterReassignment(e, *topic, int32(*partition), replicas, *cancel)
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

// alterReassignment starts (replicas) or cancels one partition's
// reassignment and says whether it is still in progress.
func alterReassignment(e *env, topic string, partition int32, replicas []int32, cancel bool) error {
	cl, adm, ctx, done, err := e.adminClients(kmsg.AlterPartitionAssignments, kmsg.ListPartitionReassignments)
	if err != nil {
		return err
	}
	defer done()
	var req kadm.AlterPartitionAssignmentsReq
	if cancel {
		replicas = nil
	}
	req.Assign(topic, partition, replicas)
	resps, err := adm.AlterPartitionAssignments(ctx, req)
	if err != nil {
		return err
	}
	r, ok := resps[topic][partition]
	if !ok {
		return fmt.Errorf("%s-%d: no answer from the brokers", topic, partition)
	}
	res := reassignResult{Topic: topic, Partition: partition, Status: "cancelled"}
	switch {
	case r.Err != nil:
		res.Status, res.Error = "failed", errText(r.Err, r.ErrMessage)
	case !cancel:
		// A reassignment that adds no replica completes at once.
		inProgress, err := reassignments(ctx, cl, topic)
		if err != nil {
			return err
		}
		res.Status = "done"
		for _, ra := range inProgress {
			if ra.Partition == partition {
				res.Status = "in progress"
			}
		}
	}
	t := newTable("TOPIC", "PARTITION", "STATUS")
	t.add(topic, partition, status(res.Status, r.Err, r.ErrMessage))
	if err := e.print(t, []reassignResult{res}); err != nil {
		return err
	}
	if r.Err != nil {
		e.fail(fmt.Sprintf("%s-%d", topic, partition), errors.New(res.Error))
		return errReported
	}
	return nil
}

func listReassignments(e *env, topic string) error {
	cl, _, ctx, done, err := e.adminClients(kmsg.ListPartitionReassignments)
	if err != nil {
		return err
	}
	defer done()
	list, err := reassignments(ctx, cl, topic)
	if err != nil {
		return err
	}
	t := newTable("TOPIC", "PARTITION", "REPLICAS", "ADDING", "REMOVING")
	for _, r := range list {
		t.add(r.Topic, r.Partition, ints(r.Replicas), ints(r.Adding), ints(r.Removing))
	}
	if list == nil {
		list = []reassignment{}
	}
	return e.print(t, list)
}

// reassignments asks for the reassignments in progress, of every
// partition or of topic's (kadm asks only for partitions it names).
func reassignments(ctx context.Context, cl *kgo.Client, topic string) ([]reassignment, error) {
	req := kmsg.NewPtrListPartitionReassignmentsRequest()
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		return nil, fmt.Errorf("ListPartitionReassignments: %w", err)
	}
	if err := kerr.ErrorForCode(resp.ErrorCode); err != nil {
		return nil, fmt.Errorf("ListPartitionReassignments: %s", errText(err, derefOr(resp.ErrorMessage)))
	}
	var list []reassignment
	for _, rt := range resp.Topics {
		if topic != "" && rt.Topic != topic {
			continue
		}
		for _, rp := range rt.Partitions {
			list = append(list, reassignment{Topic: rt.Topic, Partition: rp.Partition, Replicas: rp.Replicas,
				Adding: rp.AddingReplicas, Removing: rp.RemovingReplicas})
		}
	}
	return list, nil
}
