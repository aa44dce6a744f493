package quorum

import (
	"encoding/binary"
	"fmt"
	"maps"
	"slices"
)

// Replica placement for CreateTopics and CreatePartitions, after Kafka's
// StripedReplicaPlacer: replicas go to the live brokers (Image.LiveBrokers),
// listed so that racks alternate; partition i's replicas start at position
// start+i of that list, so leaders spread round-robin, and take the next
// brokers in list order, skipping those whose rack already holds a replica
// while unused racks remain.

// checkReplicationFactor refuses rf unless 1 <= rf <= the live brokers.
func checkReplicationFactor(im *Image, topic string, rf int16) error {
	if n := len(im.LiveBrokers()); rf < 1 || int(rf) > n {
		return fmt.Errorf("topic %q: %w: %d, must be 1 to the %d live (registered, unfenced) brokers",
			topic, ErrInvalidReplicationFactor, rf, n)
	}
	return nil
}

// placePartitions returns the Partition records of partitions from..to-1
// of a topic with rf replicas each (checked by checkReplicationFactor).
// The first replica leads; every replica is in the ISR. With more than one
// live broker the start is random, so that the first partitions of many
// topics do not all land on the same broker.
func (p *planner) placePartitions(im *Image, topicID [16]byte, from, to int32, rf int16) []record {
	brokers := rackAlternated(im.LiveBrokers())
	n := len(brokers)
	start := 0
	if n > 1 {
		var b [4]byte
		p.random(b[:])
		start = int(binary.BigEndian.Uint32(b[:]) % uint32(n))
	}
	recs := make([]record, 0, to-from)
	for i := from; i < to; i++ {
		replicas := pickReplicas(brokers, (start+int(i))%n, int(rf))
		recs = append(recs, partitionRecord{
			TopicID:   topicID,
			Partition: i,
			Replicas:  replicas,
			ISR:       slices.Clone(replicas),
			Leader:    replicas[0],
		})
	}
	return recs
}

// rackAlternated orders brokers (sorted by id) so that racks alternate:
// the first broker of each rack (racks by name), then the second of each,
// and so on. Without racks the order is unchanged.
func rackAlternated(brokers []Broker) []Broker {
	byRack := map[string][]Broker{}
	for _, b := range brokers {
		byRack[b.Rack] = append(byRack[b.Rack], b)
	}
	racks := slices.Sorted(maps.Keys(byRack))
	out := make([]Broker, 0, len(brokers))
	for k := 0; len(out) < len(brokers); k++ {
		for _, r := range racks {
			if k < len(byRack[r]) {
				out = append(out, byRack[r][k])
			}
		}
	}
	return out
}

// pickReplicas takes rf brokers from brokers starting at first, in list
// order, preferring brokers of racks not yet used.
func pickReplicas(brokers []Broker, first, rf int) []int32 {
	replicas := make([]int32, 0, rf)
	racks := map[string]bool{}
	for _, newRackOnly := range []bool{true, false} {
		for k := 0; k < len(brokers) && len(replicas) < rf; k++ {
			b := brokers[(first+k)%len(brokers)]
			if slices.Contains(replicas, b.ID) || newRackOnly && racks[b.Rack] {
				continue
			}
			replicas = append(replicas, b.ID)
			racks[b.Rack] = true
		}
	}
	return replicas
}
