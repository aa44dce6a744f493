package kafka

// ListPartitionReassignments v0 (KIP-455): the reassignments in progress,
// of every partition (topics null) or of the partitions named, each with
// its replicas (the target followed by those being removed), the replicas
// being added and those being removed. Served from this broker's metadata
// image, which holds every committed reassignment (a change made through
// this broker is in it before AlterPartitionReassignments answers);
// partitions that do not exist or are not being reassigned are left out,
// as Kafka does.

import (
	"slices"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/riffle/riffle/quorum"
)

func init() {
	register(&api{key: 46, minVersion: 0, maxVersion: 0, serve: serveListPartitionReassignments})
}

func serveListPartitionReassignments(b *Broker, r *request) (kmsg.Response, error) {
	req := r.body.(*kmsg.ListPartitionReassignmentsRequest)
	resp := req.ResponseKind().(*kmsg.ListPartitionReassignmentsResponse)
	im := b.ctrl.Image()
	answer := func(t *quorum.Topic, named []int32) {
		rt := kmsg.NewListPartitionReassignmentsResponseTopic()
		rt.Topic = t.Name
		for _, p := range t.Partitions {
			if !p.Reassigning() || (named != nil && !slices.Contains(named, p.ID)) {
				continue
			}
			rp := kmsg.NewListPartitionReassignmentsResponseTopicPartition()
			rp.Partition = p.ID
			rp.Replicas, rp.AddingReplicas, rp.RemovingReplicas = p.Replicas, nonNil(p.Adding), nonNil(p.Removing)
			rt.Partitions = append(rt.Partitions, rp)
		}
		if len(rt.Partitions) > 0 {
			resp.Topics = append(resp.Topics, rt)
		}
	}
	if req.Topics == nil {
		var names []string
		for t := range im.Topics() {
			names = append(names, t.Name)
		}
		slices.Sort(names)
		for _, name := range names {
			answer(im.Topic(name), nil)
		}
		return resp, nil
	}
	for _, rt := range req.Topics {
		if t := im.Topic(rt.Topic); t != nil {
			answer(t, nonNil(rt.Partitions))
		}
	}
	return resp, nil
}

// nonNil is ids, or an empty array for none: the response's arrays are not
// nullable.
func nonNil(ids []int32) []int32 {
	if ids == nil {
		return []int32{}
	}
	return ids
}
