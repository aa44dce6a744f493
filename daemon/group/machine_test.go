package group

import (
	"fmt"
	"strconv"
	"strings"
	"testing"

	"github.com/riffle/riffle/internal/scripttest"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// scriptMachine drives a Machine from a script with a fake clock and an
// in-memory __consumer_offsets log that "restart" replays.
type scriptMachine struct {
	m        *Machine
	cfg      Config
	now      int64
	nextCall CallID
	ids      int
	count    int32
	log      map[int32][]Record // appended records per partition
	hold     bool               // appends wait for "complete"
	held     []Append
}

func newScriptMachine() *scriptMachine {
	s := &scriptMachine{cfg: DefaultConfig(), log: map[int32][]Record{}}
	s.cfg.InitialRebalanceDelayMs = 0
	s.newMachine()
	return s
}

func (s *scriptMachine) newMachine() {
	s.m = NewMachine(s.cfg, func(clientID string) string {
		s.ids++
		return fmt.Sprintf("%s-%d", clientID, s.ids)
	})
	s.m.nextCheck = s.now + s.cfg.OffsetsRetentionCheckMs
}

func (s *scriptMachine) run(t *testing.T, cmd string, a scripttest.Args) string {
	switch cmd {
	case "config":
		s.cfg.InitialRebalanceDelayMs = int32(a.Int("initial-delay", int64(s.cfg.InitialRebalanceDelayMs)))
		s.cfg.GroupSizeMax = int(a.Int("max-size", int64(s.cfg.GroupSizeMax)))
		s.cfg.OffsetsRetentionMs = a.Int("retention", s.cfg.OffsetsRetentionMs)
		s.cfg.OffsetsRetentionCheckMs = a.Int("retention-check", s.cfg.OffsetsRetentionCheckMs)
		s.newMachine()
		return "ok"
	case "partitions":
		s.count = int32(a.Int("count", 1))
		s.m.SetPartitionCount(s.count)
		state := map[string]PartitionState{"none": PartitionNone, "loading": PartitionLoading, "active": PartitionActive}[a.Str("state", "active")]
		for p := int32(0); p < s.count; p++ {
			s.m.SetPartition(s.now, p, state)
		}
		return s.drain()
	case "restart":
		// A new machine replays every partition's log, as the shell does.
		s.newMachine()
		s.m.SetPartitionCount(s.count)
		for p := int32(0); p < s.count; p++ {
			s.m.SetPartition(s.now, p, PartitionLoading)
			for _, r := range s.log[p] {
				if err := s.m.Load(s.now, p, r.Key, r.Value); err != nil {
					return "error: " + err.Error()
				}
			}
			s.m.SetPartition(s.now, p, PartitionActive)
		}
		return s.drain()
	case "advance":
		s.now += a.Int("ms", 0)
		s.m.Tick(s.now)
		return s.drain()
	case "lease":
		s.m.SetLeaseLost(a.Str("lost", "true") == "true")
		return "ok"
	case "hold-appends":
		s.hold = a.Str("on", "true") == "true"
		return "ok"
	case "complete":
		code := int16(a.Int("code", 0))
		held := s.held
		s.held = nil
		for _, ap := range held {
			s.finishAppend(ap, code)
		}
		return s.drain()
	case "state":
		return s.state(a.Str("group", ""))
	case "log":
		return s.formatLog(int32(a.Int("partition", 0)))
	}
	req := s.request(t, cmd, a)
	if req == nil {
		t.Fatalf("unknown command %q", cmd)
	}
	version := servedVersions[req.Key()]
	if cmd == "fetch" && !a.Flag("groups") {
		version = 7 // the last version with a single group
	}
	req.SetVersion(int16(a.Int("v", int64(version))))
	s.nextCall++
	s.m.Request(s.now, Caller{Call: s.nextCall, ClientID: a.Str("client", "c"), Host: "/127.0.0.1"}, req)
	return s.drain()
}

// drain prints the machine's actions; appends complete at once (code 0)
// unless held.
func (s *scriptMachine) drain() string {
	var b strings.Builder
	for {
		acts := s.m.TakeActions()
		if len(acts) == 0 {
			return b.String()
		}
		for _, act := range acts {
			switch act := act.(type) {
			case Reply:
				fmt.Fprintf(&b, "reply %d: %s\n", act.Call, formatResponse(act.Resp))
			case Append:
				fmt.Fprintf(&b, "append p%d:", act.Partition)
				for _, r := range act.Records {
					b.WriteString(" " + formatRecord(r))
				}
				b.WriteString("\n")
				if s.hold {
					s.held = append(s.held, act)
				} else {
					s.finishAppend(act, 0)
				}
			}
		}
	}
}

func (s *scriptMachine) finishAppend(ap Append, code int16) {
	if code == 0 {
		s.log[ap.Partition] = append(s.log[ap.Partition], ap.Records...)
	}
	s.m.Appended(s.now, ap.Token, code)
}

// servedVersions is the newest version the broker serves of each group
// API: a script request has it unless v= says otherwise.
var servedVersions = map[int16]int16{8: 9, 9: 9, 11: 9, 12: 4, 13: 5, 14: 5, 15: 5, 16: 5, 42: 2, 47: 0}

func (s *scriptMachine) request(t *testing.T, cmd string, a scripttest.Args) kmsg.Request {
	switch cmd {
	case "join":
		r := kmsg.NewPtrJoinGroupRequest()
		r.Group, r.MemberID, r.InstanceID = a.Str("group", "g"), a.Str("member", ""), a.Opt("instance")
		r.SessionTimeoutMillis = int32(a.Int("session", 10000))
		r.RebalanceTimeoutMillis = int32(a.Int("rebalance", 30000))
		r.ProtocolType = a.Str("type", "consumer")
		for _, p := range a.List("protocols") {
			name, meta, _ := strings.Cut(p, ":")
			r.Protocols = append(r.Protocols, kmsg.JoinGroupRequestProtocol{Name: name, Metadata: []byte(meta)})
		}
		return r
	case "sync":
		r := kmsg.NewPtrSyncGroupRequest()
		r.Group, r.MemberID, r.Generation, r.InstanceID = a.Str("group", "g"), a.Str("member", ""), int32(a.Int("gen", -1)), a.Opt("instance")
		r.ProtocolType, r.Protocol = a.Opt("type"), a.Opt("protocol")
		for _, as := range a.List("assign") {
			id, v, _ := strings.Cut(as, ":")
			r.GroupAssignment = append(r.GroupAssignment, kmsg.SyncGroupRequestGroupAssignment{MemberID: id, MemberAssignment: []byte(v)})
		}
		return r
	case "heartbeat":
		r := kmsg.NewPtrHeartbeatRequest()
		r.Group, r.MemberID, r.Generation, r.InstanceID = a.Str("group", "g"), a.Str("member", ""), int32(a.Int("gen", -1)), a.Opt("instance")
		return r
	case "leave":
		r := kmsg.NewPtrLeaveGroupRequest()
		r.Group, r.MemberID = a.Str("group", "g"), a.Str("member", "")
		for _, id := range a.List("members") {
			lm := kmsg.NewLeaveGroupRequestMember()
			if inst, ok := strings.CutPrefix(id, "instance:"); ok {
				lm.InstanceID = &inst
			} else {
				lm.MemberID = id
			}
			r.Members = append(r.Members, lm)
		}
		return r
	case "commit":
		return commitRequest(t, a)
	case "fetch":
		r := kmsg.NewPtrOffsetFetchRequest()
		r.Group = a.Str("group", "g")
		if names, parts := topicsArg(a, "topics"); names != nil {
			for i, name := range names {
				r.Topics = append(r.Topics, kmsg.OffsetFetchRequestTopic{Topic: name, Partitions: parts[i]})
			}
		}
		for _, id := range a.List("groups") {
			rg := kmsg.NewOffsetFetchRequestGroup()
			rg.Group = id
			r.Groups = append(r.Groups, rg)
		}
		return r
	case "offset-delete":
		r := kmsg.NewPtrOffsetDeleteRequest()
		r.Group = a.Str("group", "g")
		names, parts := topicsArg(a, "topics")
		for i, name := range names {
			rt := kmsg.NewOffsetDeleteRequestTopic()
			rt.Topic = name
			for _, p := range parts[i] {
				rt.Partitions = append(rt.Partitions, kmsg.OffsetDeleteRequestTopicPartition{Partition: p})
			}
			r.Topics = append(r.Topics, rt)
		}
		return r
	case "describe":
		r := kmsg.NewPtrDescribeGroupsRequest()
		r.Groups = a.List("groups")
		return r
	case "list":
		r := kmsg.NewPtrListGroupsRequest()
		r.StatesFilter = a.List("states")
		return r
	case "delete":
		r := kmsg.NewPtrDeleteGroupsRequest()
		r.Groups = a.List("groups")
		return r
	}
	return nil
}

// commitRequest parses offsets=t:0@5@meta,... (metadata optional; "big" is
// 5000 bytes).
func commitRequest(t *testing.T, a scripttest.Args) *kmsg.OffsetCommitRequest {
	r := kmsg.NewPtrOffsetCommitRequest()
	r.Group, r.MemberID, r.Generation, r.InstanceID = a.Str("group", "g"), a.Str("member", ""), int32(a.Int("gen", -1)), a.Opt("instance")
	for _, o := range a.List("offsets") {
		fields := strings.Split(o, "@")
		topic, ps, _ := strings.Cut(fields[0], ":")
		p, err1 := strconv.Atoi(ps)
		off, err2 := strconv.ParseInt(fields[1], 10, 64)
		if err1 != nil || err2 != nil {
			t.Fatalf("offset %q", o)
		}
		rp := kmsg.NewOffsetCommitRequestTopicPartition()
		rp.Partition, rp.Offset, rp.LeaderEpoch = int32(p), off, 3
		if len(fields) > 2 {
			md := fields[2]
			if md == "big" {
				md = strings.Repeat("x", 5000)
			}
			rp.Metadata = &md
		}
		if n := len(r.Topics); n > 0 && r.Topics[n-1].Topic == topic {
			r.Topics[n-1].Partitions = append(r.Topics[n-1].Partitions, rp)
			continue
		}
		rt := kmsg.NewOffsetCommitRequestTopic()
		rt.Topic, rt.Partitions = topic, []kmsg.OffsetCommitRequestTopicPartition{rp}
		r.Topics = append(r.Topics, rt)
	}
	return r
}

func codeName(code int16) string {
	if code == 0 {
		return "OK"
	}
	if err, ok := kerr.ErrorForCode(code).(*kerr.Error); ok {
		return err.Message
	}
	return strconv.Itoa(int(code))
}

func deref(s *string) string {
	if s == nil {
		return "<nil>"
	}
	return *s
}
