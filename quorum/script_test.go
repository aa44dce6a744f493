package quorum

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/twmb/franz-go/pkg/kerr"
)

// errorLine prints err with the sentinels it matches.
func errorLine(err error) string {
	sentinels := []struct {
		name string
		err  error
	}{
		{"TopicExists", ErrTopicExists}, {"UnknownTopic", ErrUnknownTopic}, {"InvalidTopic", ErrInvalidTopic},
		{"InvalidPartitions", ErrInvalidPartitions}, {"InvalidReplicationFactor", ErrInvalidReplicationFactor},
		{"InvalidConfig", ErrInvalidConfig}, {"UnknownConfig", ErrUnknownConfig}, {"PolicyViolation", ErrPolicyViolation},
		{"CorruptMetadata", ErrCorruptMetadata}, {"Closed", ErrClosed},
	}
	var is []string
	for _, s := range sentinels {
		if errors.Is(err, s.err) {
			is = append(is, s.name)
		}
	}
	var ke *kerr.Error
	if errors.As(err, &ke) {
		is = append(is, ke.Message)
	}
	return fmt.Sprintf("error %v: %v", is, err)
}

func shortID(id [16]byte) string { return fmt.Sprintf("%x", id[:2]) }

func formatRecord(r record) string {
	switch r := r.(type) {
	case clusterIDRecord:
		return "ClusterID " + r.ClusterID
	case registerBrokerRecord:
		return fmt.Sprintf("RegisterBroker id=%d %s:%d rack=%q incarnation=%s", r.ID, r.Host, r.Port, r.Rack, shortID(r.Incarnation))
	case topicRecord:
		return fmt.Sprintf("Topic %s id=%s internal=%v", r.Name, shortID(r.ID), r.Internal)
	case partitionRecord:
		return fmt.Sprintf("Partition topic=%s p%d replicas=%v isr=%v leader=%d epoch=%d/%d",
			shortID(r.TopicID), r.Partition, r.Replicas, r.ISR, r.Leader, r.LeaderEpoch, r.PartitionEpoch) +
			reassignmentText(r.Removing, r.Adding)
	case removeTopicRecord:
		return "RemoveTopic " + shortID(r.TopicID)
	case configRecord:
		if r.Topic == "" {
			r.Topic = "(cluster)"
		}
		if r.Delete {
			return fmt.Sprintf("Config %s delete %s", r.Topic, r.Key)
		}
		return fmt.Sprintf("Config %s %s=%s", r.Topic, r.Key, r.Value)
	case producerIDsRecord:
		return fmt.Sprintf("ProducerIDs end=%d", r.BlockEnd)
	case brokerStateRecord:
		return fmt.Sprintf("BrokerState id=%d epoch=%d fenced=%v controlled-shutdown=%v", r.ID, r.Epoch, r.Fenced, r.InControlledShutdown)
	case partitionChangeRecord:
		s := fmt.Sprintf("PartitionChange topic=%s p%d", shortID(r.TopicID), r.Partition)
		if r.Leader != noLeaderChange {
			s += fmt.Sprintf(" leader=%d", r.Leader)
		}
		for _, f := range []struct {
			name string
			ids  []int32
		}{{"isr", r.ISR}, {"replicas", r.Replicas}, {"removing", r.Removing}, {"adding", r.Adding}} {
			if f.ids != nil {
				s += fmt.Sprintf(" %s=%v", f.name, f.ids)
			}
		}
		return s
	}
	panic(fmt.Sprintf("unknown record %T", r))
}

func formatImage(im *Image) string {
	var b strings.Builder
	fmt.Fprintf(&b, "offset=%d cluster=%s controller=%d producer-ids-end=%d\n", im.Offset, im.ClusterID, im.ControllerID, im.ProducerIDsEnd)
	for _, br := range im.Brokers {
		fmt.Fprintf(&b, "broker %d %s:%d rack=%q\n", br.ID, br.Host, br.Port, br.Rack)
	}
	if len(im.ClusterConfigs) > 0 {
		fmt.Fprintf(&b, "cluster configs %v\n", im.ClusterConfigs)
	}
	var names []string
	for t := range im.Topics() {
		names = append(names, t.Name)
	}
	slices.Sort(names)
	for _, name := range names {
		t := im.Topic(name)
		if im.TopicByID(t.ID) != t {
			fmt.Fprintf(&b, "BROKEN: TopicsByID[%s] is not Topics[%s]\n", shortID(t.ID), name)
		}
		fmt.Fprintf(&b, "topic %s id=%s internal=%v configs=%v\n", name, shortID(t.ID), t.Internal, t.Configs)
		for _, p := range t.Partitions {
			fmt.Fprintf(&b, "  p%d leader=%d epoch=%d/%d replicas=%v isr=%v%s\n", p.ID, p.Leader, p.LeaderEpoch, p.PartitionEpoch,
				p.Replicas, p.ISR, reassignmentText(p.Removing, p.Adding))
		}
	}
	if im.topicsByID.Len() != im.TopicCount() || im.topicNames.Len() != im.TopicCount() || len(names) != im.TopicCount() {
		fmt.Fprintf(&b, "BROKEN: %d topics by id, %d by normal name, %d by name, %d yielded\n",
			im.topicsByID.Len(), im.topicNames.Len(), im.TopicCount(), len(names))
	}
	fmt.Fprintf(&b, "replicas per broker %v\n", im.brokerReplicas)
	return b.String()
}

// reassignmentText prints a reassignment in progress, nothing for none.
func reassignmentText(removing, adding []int32) string {
	if len(removing) == 0 && len(adding) == 0 {
		return ""
	}
	return fmt.Sprintf(" removing=%v adding=%v", removing, adding)
}
