package replica

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/riffle/riffle/internal/ids"
	"github.com/riffle/riffle/internal/scripttest"
)

// TestScripts runs testdata/*.txt against a fresh machine each (node 1,
// min.insync.replicas 2, lag time 10 s, empty log unless init says
// otherwise). Times are milliseconds.
func TestScripts(t *testing.T) {
	scripttest.Run(t, "*.txt", func(t *testing.T) func(string, scripttest.Args) string {
		s := &scriptMachine{m: newMachine(1, "t", 0, 2, 10*time.Second, 0, 0, 0)}
		return func(cmd string, a scripttest.Args) string { return s.run(cmd, a) }
	})
}

type scriptMachine struct {
	m *machine
}

func (s *scriptMachine) run(cmd string, a scripttest.Args) string {
	m := s.m
	var err error
	switch cmd {
	case "init":
		leo := ids.Offset(a.Int("leo", 0))
		s.m = newMachine(ids.NodeID(a.Int("self", 1)), "t", 0, int(a.Int("min-isr", 2)),
			time.Duration(a.Int("lag", 10000))*time.Millisecond, leo, ids.Offset(a.Int("hw", 0)), ids.Offset(a.Int("log-start", 0)))
		return "ok"
	case "leader":
		err = m.becomeLeader(Leadership{Epoch: ids.Epoch(a.Int("epoch", 0)), PartitionEpoch: int32(a.Int("pe", 0)),
			Replicas: nodes(a, "replicas"), ISR: nodes(a, "isr")}, ids.Offset(a.Int("leo", int64(m.leo))), ms(a.Int("now", 0)))
	case "follower":
		err = m.becomeFollower(ids.NodeID(a.Int("leader", -1)), ids.Epoch(a.Int("epoch", 0)), int32(a.Int("pe", 0)))
	case "append":
		m.appended(ids.Offset(a.Int("leo", 0)))
	case "fetch":
		m.followerFetched(fetch{replica: ids.NodeID(a.Int("replica", 0)), epoch: ids.Epoch(a.Int("epoch", int64(m.epoch))),
			brokerEpoch: a.Int("broker-epoch", -1), eligible: !a.Flag("ineligible"), offset: ids.Offset(a.Int("offset", 0)),
			leaderLEO: ids.Offset(a.Int("leader-leo", int64(m.leo))), now: ms(a.Int("now", 0))})
	case "tick":
		m.tick(ms(a.Int("now", 0)))
	case "committed":
		m.isrCommitted(nodes(a, "isr"), int32(a.Int("pe", 0)), ms(a.Int("now", 0)))
	case "rejected":
		prop := m.proposal
		if a.Flag("stale") {
			prop.PartitionEpoch--
		}
		m.isrRejected(prop)
	case "min-isr":
		m.setMinISR(int(a.Int("n", 1)))
	case "lag":
		m.setLagMax(time.Duration(a.Int("ms", 0)) * time.Millisecond)
	case "leader-hw":
		m.leaderHW(ids.Offset(a.Int("hw", 0)))
	case "truncated":
		m.truncated(ids.Offset(a.Int("leo", 0)), ids.Offset(a.Int("log-start", int64(m.logStart))))
	case "replicated":
		done, err := m.replicated(ids.Epoch(a.Int("epoch", int64(m.epoch))), ids.Offset(a.Int("required", 0)))
		switch {
		case err != nil:
			return "done: " + err.Error()
		case done:
			return "done"
		}
		return "waiting"
	case "enough-replicas":
		return strconv.FormatBool(m.enoughReplicas())
	case "truncation":
		off, done := truncationOffset(epochEnd(a, "leader"), epochEnd(a, "own"), ids.Offset(a.Int("hw", 0)), ids.Offset(a.Int("leo", 0)))
		return fmt.Sprintf("truncate to %d done=%v", off, done)
	case "state":
		return s.state()
	default:
		a.Fatalf("unknown command %q", cmd)
	}
	var out []string
	if err != nil {
		out = append(out, "error: "+err.Error())
	}
	for _, act := range m.take() {
		switch act := act.(type) {
		case hwMoved:
			out = append(out, fmt.Sprintf("hw %d", act.hw))
		case roleChanged:
			out = append(out, "role changed")
		case proposeISR:
			var mbs []string
			for _, mb := range act.prop.ISR {
				mbs = append(mbs, fmt.Sprintf("%d@%d", mb.ID, mb.BrokerEpoch))
			}
			out = append(out, fmt.Sprintf("propose isr=%s epoch=%d pe=%d", strings.Join(mbs, ","), act.prop.LeaderEpoch, act.prop.PartitionEpoch))
		}
	}
	return strings.Join(out, "\n")
}

// state prints the machine: role, epochs, offsets, ISR and followers.
func (s *scriptMachine) state() string {
	m := s.m
	var b strings.Builder
	if !m.leader {
		fmt.Fprintf(&b, "follower of %d epoch=%d pe=%d leo=%d hw=%d", m.leaderID, m.epoch, m.partitionEpoch, m.leo, m.hw)
		return b.String()
	}
	pending := map[pendingKind]string{pendingNone: "none", pendingExpand: "expand", pendingShrink: "shrink"}[m.pending]
	fmt.Fprintf(&b, "leader epoch=%d pe=%d epoch-start=%d leo=%d hw=%d isr=%v maximal=%v pending=%s",
		m.epoch, m.partitionEpoch, m.epochStart, m.leo, m.hw, m.isr, m.maximalISR(), pending)
	idsSorted := make([]ids.NodeID, 0, len(m.followers))
	for id := range m.followers {
		idsSorted = append(idsSorted, id)
	}
	slices.Sort(idsSorted)
	for _, id := range idsSorted {
		f := m.followers[id]
		caught := "never"
		if !f.lastCaughtUp.IsZero() {
			caught = strconv.FormatInt(f.lastCaughtUp.UnixMilli(), 10)
		}
		fmt.Fprintf(&b, "\n  %d: leo=%d caught-up=%s in-sync=%v", id, f.leo, caught, m.caughtUp(f))
	}
	return b.String()
}

func ms(n int64) time.Time { return time.UnixMilli(n) }

func nodes(a scripttest.Args, k string) []ids.NodeID {
	var out []ids.NodeID
	for _, v := range a.List(k) {
		n, err := strconv.Atoi(v)
		if err != nil {
			a.Fatalf("argument %s: node %q", k, v)
		}
		out = append(out, ids.NodeID(n))
	}
	return out
}

// epochEnd parses E:O (either may be -1).
func epochEnd(a scripttest.Args, k string) EpochEnd {
	e, o, ok := strings.Cut(a.Str(k, "-1:-1"), ":")
	en, err1 := strconv.Atoi(e)
	on, err2 := strconv.ParseInt(o, 10, 64)
	if !ok || err1 != nil || err2 != nil {
		a.Fatalf("argument %s: want epoch:offset", k)
	}
	return EpochEnd{Epoch: ids.Epoch(en), EndOffset: ids.Offset(on)}
}
