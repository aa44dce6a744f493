package chaos

import (
	"context"
	"fmt"
	"slices"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// admin asks the cluster about itself with raw Kafka requests.
type admin struct{ cl *kgo.Client }

// createTopic creates the run's topic with its configs.
func (a admin) createTopic(ctx context.Context, topic string, partitions, rf int, configs map[string]string) error {
	req := kmsg.NewPtrCreateTopicsRequest()
	req.TimeoutMillis = 30000
	t := kmsg.NewCreateTopicsRequestTopic()
	t.Topic, t.NumPartitions, t.ReplicationFactor = topic, int32(partitions), int16(rf)
	for k, v := range configs {
		c := kmsg.NewCreateTopicsRequestTopicConfig()
		c.Name, c.Value = k, kmsg.StringPtr(v)
		t.Configs = append(t.Configs, c)
	}
	req.Topics = append(req.Topics, t)
	resp, err := req.RequestWith(ctx, a.cl)
	if err != nil {
		return fmt.Errorf("create topic %s: %w", topic, err)
	}
	for _, t := range resp.Topics {
		if err := kerr.ErrorForCode(t.ErrorCode); err != nil && err != kerr.TopicAlreadyExists {
			return fmt.Errorf("create topic %s: %w", topic, err)
		}
	}
	return nil
}

// partitionState is what Metadata says of one partition.
type partitionState struct {
	leader   int32
	replicas []int32
	isr      []int32
}

// metadata returns the controller id and the topic's partitions.
func (a admin) metadata(ctx context.Context, topic string) (int32, map[int32]partitionState, error) {
	req := kmsg.NewPtrMetadataRequest()
	rt := kmsg.NewMetadataRequestTopic()
	rt.Topic = kmsg.StringPtr(topic)
	req.Topics = append(req.Topics, rt)
	resp, err := req.RequestWith(ctx, a.cl)
	if err != nil {
		return 0, nil, fmt.Errorf("metadata: %w", err)
	}
	parts := map[int32]partitionState{}
	for _, t := range resp.Topics {
		if err := kerr.ErrorForCode(t.ErrorCode); err != nil {
			return 0, nil, fmt.Errorf("metadata %s: %w", topic, err)
		}
		for _, p := range t.Partitions {
			parts[p.Partition] = partitionState{leader: p.Leader, replicas: p.Replicas, isr: p.ISR}
		}
	}
	return resp.ControllerID, parts, nil
}

// fullyReplicated reports nil once every partition has a leader and an
// ISR of all its replicas.
func (a admin) fullyReplicated(ctx context.Context, topic string, partitions int) error {
	_, parts, err := a.metadata(ctx, topic)
	if err != nil {
		return err
	}
	if len(parts) != partitions {
		return fmt.Errorf("metadata lists %d of %d partitions", len(parts), partitions)
	}
	for p, s := range parts {
		isr := slices.Sorted(slices.Values(s.isr))
		reps := slices.Sorted(slices.Values(s.replicas))
		if s.leader < 0 || !slices.Equal(isr, reps) {
			return fmt.Errorf("partition %d: leader %d, ISR %v of replicas %v", p, s.leader, s.isr, s.replicas)
		}
	}
	return nil
}

// endOffsets returns each partition's high watermark.
func (a admin) endOffsets(ctx context.Context, topic string, partitions int) (map[int32]int64, error) {
	req := kmsg.NewPtrListOffsetsRequest()
	rt := kmsg.NewListOffsetsRequestTopic()
	rt.Topic = topic
	for p := range partitions {
		rp := kmsg.NewListOffsetsRequestTopicPartition()
		rp.Partition, rp.Timestamp = int32(p), -1
		rt.Partitions = append(rt.Partitions, rp)
	}
	req.Topics = append(req.Topics, rt)
	shards := a.cl.RequestSharded(ctx, req)
	out := map[int32]int64{}
	for _, sh := range shards {
		if sh.Err != nil {
			return nil, fmt.Errorf("list offsets: %w", sh.Err)
		}
		for _, t := range sh.Resp.(*kmsg.ListOffsetsResponse).Topics {
			for _, p := range t.Partitions {
				if err := kerr.ErrorForCode(p.ErrorCode); err != nil {
					return nil, fmt.Errorf("list offsets %s/%d: %w", topic, p.Partition, err)
				}
				out[p.Partition] = p.Offset
			}
		}
	}
	if len(out) != partitions {
		return nil, fmt.Errorf("list offsets: %d of %d partitions answered", len(out), partitions)
	}
	return out, nil
}

// committed returns the group's committed offsets of the topic as node
// answers them (0: the coordinator the client finds). Asking each node
// directly shows a deposed coordinator that still answers.
func (a admin) committed(ctx context.Context, node int32, group, topic string) (map[int32]int64, error) {
	req := kmsg.NewPtrOffsetFetchRequest()
	req.Version = 7 // the single-group form, served by every broker we meet
	req.Group = group
	// No topics: all of the group's partitions.
	var kresp kmsg.Response
	var err error
	if node == 0 {
		kresp, err = a.cl.Request(ctx, req)
	} else {
		kresp, err = a.cl.Broker(int(node)).Request(ctx, req)
	}
	if err != nil {
		return nil, fmt.Errorf("offset fetch %s: %w", group, err)
	}
	resp := kresp.(*kmsg.OffsetFetchResponse)
	if err := kerr.ErrorForCode(resp.ErrorCode); err != nil {
		return nil, fmt.Errorf("offset fetch %s: %w", group, err)
	}
	out := map[int32]int64{}
	for _, t := range resp.Topics {
		if t.Topic != topic {
			continue
		}
		for _, p := range t.Partitions {
			if kerr.ErrorForCode(p.ErrorCode) == nil && p.Offset >= 0 {
				out[p.Partition] = p.Offset
			}
		}
	}
	return out, nil
}
