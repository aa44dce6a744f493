package quorum

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/riffle/riffle/internal/scripttest"
)

// brokerMachine adds to machine what the broker lifecycle needs: the
// controller's session tracker and a fake clock.
type brokerMachine struct {
	machine
	s   *sessions
	now time.Time
}

func (m *brokerMachine) run(cmd string, a scripttest.Args) string {
	switch cmd {
	case "register":
		inc := byte(a.Int("incarnation", 1))
		req := BrokerRegistration{
			ID:          int32(a.Int("id", 1)),
			ClusterID:   a.Str("cluster", m.im.ClusterID),
			Incarnation: [16]byte{inc, inc},
			Host:        a.Str("host", "h"+a.Str("id", "1")),
			Port:        9092,
			Rack:        a.Str("rack", ""),
		}
		recs, epoch, err := registerBroker(m.im, m.s, m.now, req)
		if err != nil {
			return errorLine(err)
		}
		out := m.commit(recs)
		m.s.touch(req.ID, m.now)
		return out + fmt.Sprintf("broker epoch=%d", epoch)
	case "heartbeat":
		id := int32(a.Int("id", 1))
		b, _ := m.im.Broker(id)
		req := BrokerHeartbeat{
			ID:             id,
			Epoch:          a.Int("epoch", b.Epoch),
			MetadataOffset: a.Int("offset", m.im.Offset),
			WantFence:      a.Flag("want-fence"),
			WantShutdown:   a.Flag("want-shutdown"),
		}
		recs, reply, err := brokerHeartbeat(m.im, req)
		if err != nil {
			return errorLine(err)
		}
		out := ""
		if len(recs) > 0 {
			out = m.commit(recs)
		}
		m.s.touch(id, m.now)
		if reply.ShouldShutdown {
			m.s.forget(id)
		}
		return out + fmt.Sprintf("reply caught-up=%v fenced=%v should-shut-down=%v", reply.IsCaughtUp, reply.IsFenced, reply.ShouldShutdown)
	case "advance":
		m.now = m.now.Add(time.Duration(a.Int("ms", 0)) * time.Millisecond)
		return fmt.Sprintf("now=%dms expired=%v", m.now.UnixMilli(), m.s.expired(m.now))
	case "fence-stale":
		// What the shell does on each session check: one broker per change.
		var out strings.Builder
		for recs := fenceStale(m.im, m.s, m.now); len(recs) > 0; recs = fenceStale(m.im, m.s, m.now) {
			out.WriteString(m.commit(recs))
		}
		if out.Len() == 0 {
			return "no change"
		}
		return out.String()
	case "alter-partition":
		return m.alterPartition(a)
	case "elect":
		return m.elect(a)
	case "reassign":
		return m.reassign(a)
	case "broker-partitions-max":
		m.p.brokerPartitionsMax = int(a.Int("n", 0))
		return fmt.Sprintf("replicas per broker %v", m.im.brokerReplicas)
	case "rebalance":
		return m.commit(rebalanceLeaders(m.im))
	case "state":
		return formatState(m.im, m.s, m.now)
	}
	return m.machine.run(cmd, a)
}

// elect runs ElectLeaders: type=preferred (the default), unclean or a
// number, for
// partition p of topic, or for every partition without topic; it prints
// each partition's result, then the change.
func (m *brokerMachine) elect(a scripttest.Args) string {
	var electionType int8
	switch typ := a.Str("type", "preferred"); typ {
	case "preferred":
		electionType = ElectPreferred
	case "unclean":
		electionType = ElectUnclean
	default:
		electionType = int8(a.Int("type", 0))
	}
	var partitions []TopicPartition
	if topic := a.Str("topic", ""); topic != "" {
		for _, p := range a.List("p") {
			n, err := strconv.Atoi(p)
			if err != nil {
				a.Fatalf("partition %q: %v", p, err)
			}
			partitions = append(partitions, TopicPartition{Topic: topic, Partition: int32(n)})
		}
	}
	recs, results, err := electLeaders(m.im, electionType, partitions)
	if err != nil {
		return errorLine(err)
	}
	var out strings.Builder
	for _, r := range results {
		res := "elected"
		if r.Err != nil {
			res = errorLine(r.Err)
		}
		fmt.Fprintf(&out, "%s p%d: %s\n", r.Topic, r.Partition, res)
	}
	return out.String() + m.commit(recs)
}

// alterPartition runs AlterPartition with the image's epochs unless given;
// isr=1,2:7 proposes brokers 1 and 2, 2 with broker epoch 7 (a bare id
// takes its registered epoch).
func (m *brokerMachine) alterPartition(a scripttest.Args) string {
	t := m.im.Topic(a.Str("topic", ""))
	if t == nil {
		a.Fatalf("no topic %q", a.Str("topic", ""))
	}
	p := t.Partitions[a.Int("p", 0)]
	sender := int32(a.Int("broker", int64(p.Leader)))
	b, _ := m.im.Broker(sender)
	req := AlterPartition{
		BrokerID:       sender,
		BrokerEpoch:    a.Int("broker-epoch", b.Epoch),
		TopicID:        t.ID,
		Partition:      p.ID,
		LeaderEpoch:    int32(a.Int("leader-epoch", int64(p.LeaderEpoch))),
		PartitionEpoch: int32(a.Int("partition-epoch", int64(p.PartitionEpoch))),
	}
	for _, m1 := range a.List("isr") {
		idStr, epochStr, hasEpoch := strings.Cut(m1, ":")
		id, err := strconv.Atoi(idStr)
		if err != nil {
			a.Fatalf("isr member %q: %v", m1, err)
		}
		member := ISRMember{ID: int32(id)}
		if br, ok := m.im.Broker(member.ID); ok {
			member.Epoch = br.Epoch
		}
		if hasEpoch {
			if member.Epoch, err = strconv.ParseInt(epochStr, 10, 64); err != nil {
				a.Fatalf("isr member %q: %v", m1, err)
			}
		}
		req.NewISR = append(req.NewISR, member)
	}
	recs, moved, err := alterPartition(m.im, req)
	if err != nil {
		return errorLine(err)
	}
	out := m.commit(recs)
	if moved {
		out += "answer: NEW_LEADER_ELECTED\n"
	}
	return out
}

// reassign runs AlterPartitionReassignments for partition p of topic:
// replicas=2,3,4 starts one, cancel cancels it; it prints the result, then
// the change.
func (m *brokerMachine) reassign(a scripttest.Args) string {
	rq := Reassignment{TopicPartition: TopicPartition{Topic: a.Str("topic", ""), Partition: int32(a.Int("p", 0))}}
	if !a.Flag("cancel") {
		rq.Replicas = []int32{}
		for _, s := range a.List("replicas") {
			id, err := strconv.Atoi(s)
			if err != nil {
				a.Fatalf("replica %q: %v", s, err)
			}
			rq.Replicas = append(rq.Replicas, int32(id))
		}
	}
	recs, results := m.p.alterPartitionReassignments(m.im, []Reassignment{rq})
	res := "ok"
	if err := results[0].Err; err != nil {
		res = errorLine(err)
	}
	return res + "\n" + m.commit(recs)
}

// formatState prints the brokers' registrations and sessions and every
// partition's leadership.
func formatState(im *Image, s *sessions, now time.Time) string {
	var b strings.Builder
	for _, br := range im.Brokers {
		state := "unfenced"
		switch {
		case br.Fenced && br.InControlledShutdown:
			state = "fenced,controlled-shutdown"
		case br.Fenced:
			state = "fenced"
		case br.InControlledShutdown:
			state = "controlled-shutdown"
		}
		session := "none"
		if last, ok := s.last[br.ID]; ok {
			session = fmt.Sprintf("last=%dms live=%v", last.UnixMilli(), s.live(br.ID, now))
		}
		fmt.Fprintf(&b, "broker %d epoch=%d %s rack=%q session %s led=%d\n", br.ID, br.Epoch, state, br.Rack, session, len(im.LedBy(br.ID)))
	}
	for _, t := range im.topicsByName() {
		for _, p := range t.Partitions {
			fmt.Fprintf(&b, "%s p%d leader=%d epoch=%d/%d replicas=%v isr=%v%s\n", t.Name, p.ID, p.Leader, p.LeaderEpoch, p.PartitionEpoch,
				p.Replicas, p.ISR, reassignmentText(p.Removing, p.Adding))
		}
	}
	return b.String()
}

func TestBrokerScripts(t *testing.T) {
	scripttest.Run(t, "brokers-*.txt", func(*testing.T) func(string, scripttest.Args) string {
		m := &brokerMachine{
			machine: machine{
				p: planner{
					topicPartitionsMax:  100,
					brokerPartitionsMax: DefaultBrokerPartitionsMax,
					topicsMax:           DefaultTopicsMax,
					validateConfig:      ValidateTopicConfig,
					random:              counterRandom(),
				},
				im: emptyImage(1),
			},
			s:   newSessions(DefaultBrokerSessionTimeout),
			now: time.UnixMilli(0),
		}
		return m.run
	})
}

func TestSessions(t *testing.T) {
	s := newSessions(9 * time.Second)
	t0 := time.UnixMilli(1000)
	s.touch(2, t0)
	s.touch(1, t0.Add(time.Second))
	if got := s.expired(t0.Add(9 * time.Second)); len(got) != 0 {
		t.Errorf("expired at exactly the timeout: %v", got)
	}
	if got := s.expired(t0.Add(9*time.Second + time.Millisecond)); !slices.Equal(got, []int32{2}) {
		t.Errorf("expired just after broker 2's timeout: %v, want [2]", got)
	}
	if got := s.expired(t0.Add(11 * time.Second)); !slices.Equal(got, []int32{1, 2}) {
		t.Errorf("expired later: %v, want [1 2]", got)
	}
	s.forget(2)
	if s.live(2, t0) || len(s.expired(t0.Add(time.Hour))) != 1 {
		t.Error("a forgotten session is still tracked")
	}
}
