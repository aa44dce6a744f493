package cli

import (
	"context"
	"fmt"
	"sort"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// topicDescription is one topic in describe: metadata, configs, offsets.
type topicDescription struct {
	topicSummary
	Configs          []configEntry     `json:"configs"`
	PartitionDetails []partitionDetail `json:"partition_details"`
}

type configEntry struct {
	Key       string  `json:"key"`
	Value     *string `json:"value"` // nil when sensitive or unset
	Source    string  `json:"source"`
	Sensitive bool    `json:"sensitive,omitempty"`
}

type partitionDetail struct {
	Partition      int32   `json:"partition"`
	Leader         int32   `json:"leader"`
	LeaderEpoch    int32   `json:"leader_epoch"`
	Replicas       []int32 `json:"replicas"`
	ISR            []int32 `json:"isr"`
	LogStartOffset int64   `json:"log_start_offset"`
	HighWatermark  int64   `json:"high_watermark"`
	Error          string  `json:"error,omitempty"`
}

func topicDescribe(e *env, args []string) error {
	fs := e.flags("TOPIC...", "Show topics: partitions with leaders, replicas and offsets, and configs.")
	all := fs.Bool("a", false, "list every config, defaults included (else only the topic's own)")
	alias(fs, "all-configs", "a")
	topics, err := e.parse(fs, args, 1, -1, "topic name")
	if err != nil {
		return err
	}
	adm, ctx, done, err := e.admin(kmsg.Metadata, kmsg.DescribeConfigs, kmsg.ListOffsets)
	if err != nil {
		return err
	}
	defer done()
	details, err := adm.ListTopicsWithInternal(ctx, topics...)
	if err != nil {
		return err
	}
	var described []topicDescription
	var failed bool
	for _, topic := range topics {
		d, ok := details[topic]
		if !ok || d.Err != nil {
			e.fail(topic, orMissing(d.Err))
			failed = true
			continue
		}
		desc, err := describeTopic(ctx, adm, d, *all)
		if err != nil {
			e.fail(topic, err)
			failed = true
			continue
		}
		described = append(described, desc)
	}
	if err := e.printSections(topicTables(described), described); err != nil {
		return err
	}
	if failed {
		return errReported
	}
	return nil
}

func orMissing(err error) error {
	if err == nil {
		return fmt.Errorf("not in the metadata response")
	}
	return err
}

func describeTopic(ctx context.Context, adm *kadm.Client, d kadm.TopicDetail, allConfigs bool) (topicDescription, error) {
	desc := topicDescription{topicSummary: summarize(d), Configs: []configEntry{}}
	configs, err := adm.DescribeTopicConfigs(ctx, d.Topic)
	if err != nil {
		return desc, fmt.Errorf("configs: %w", err)
	}
	rc, err := configs.On(d.Topic, nil)
	if err == nil {
		err = rc.Err
	}
	if err != nil {
		return desc, fmt.Errorf("configs: %v", errText(err, rc.ErrMessage))
	}
	for _, c := range rc.Configs {
		if !allConfigs && c.Source != kmsg.ConfigSourceDynamicTopicConfig {
			continue
		}
		desc.Configs = append(desc.Configs, configEntry{Key: c.Key, Value: c.Value, Source: c.Source.String(), Sensitive: c.Sensitive})
	}
	sort.Slice(desc.Configs, func(i, j int) bool { return desc.Configs[i].Key < desc.Configs[j].Key })

	starts, err := adm.ListStartOffsets(ctx, d.Topic)
	if err != nil {
		return desc, fmt.Errorf("log start offsets: %w", err)
	}
	ends, err := adm.ListEndOffsets(ctx, d.Topic)
	if err != nil {
		return desc, fmt.Errorf("high watermarks: %w", err)
	}
	for _, p := range d.Partitions.Sorted() {
		pd := partitionDetail{Partition: p.Partition, Leader: p.Leader, LeaderEpoch: p.LeaderEpoch,
			Replicas: p.Replicas, ISR: p.ISR, LogStartOffset: -1, HighWatermark: -1}
		start, _ := starts.Lookup(d.Topic, p.Partition)
		end, _ := ends.Lookup(d.Topic, p.Partition)
		switch {
		case p.Err != nil:
			pd.Error = p.Err.Error()
		case start.Err != nil:
			pd.Error = start.Err.Error()
		case end.Err != nil:
			pd.Error = end.Err.Error()
		default:
			pd.LogStartOffset, pd.HighWatermark = start.Offset, end.Offset
		}
		desc.PartitionDetails = append(desc.PartitionDetails, pd)
	}
	return desc, nil
}

// topicTables are each topic as a summary, its configs and its
// partitions.
func topicTables(described []topicDescription) [][]*table {
	var items [][]*table
	for _, d := range described {
		summary := newTable("TOPIC", d.Name)
		summary.add("ID", d.ID)
		summary.add("PARTITIONS", d.Partitions)
		summary.add("REPLICATION-FACTOR", d.ReplicationFactor)
		summary.add("INTERNAL", d.Internal)
		configs := newTable("CONFIG", "VALUE", "SOURCE")
		for _, c := range d.Configs {
			value := "(sensitive)"
			if c.Value != nil {
				value = *c.Value
			}
			configs.add(c.Key, value, c.Source)
		}
		parts := newTable("PARTITION", "LEADER", "EPOCH", "REPLICAS", "ISR", "LOG-START", "HIGH-WATERMARK", "ERROR")
		for _, p := range d.PartitionDetails {
			parts.add(p.Partition, p.Leader, p.LeaderEpoch, ints(p.Replicas), ints(p.ISR), p.LogStartOffset, p.HighWatermark, p.Error)
		}
		items = append(items, []*table{summary, configs, parts})
	}
	return items
}
