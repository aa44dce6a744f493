package txn

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/riffle/riffle/internal/scripttest"
)

// TestScripts runs testdata/*.txt against a fresh scriptMachine each.
func TestScripts(t *testing.T) {
	scripttest.Run(t, "*.txt", func(t *testing.T) func(string, scripttest.Args) string {
		s := newScriptMachine()
		return func(cmd string, a scripttest.Args) string { return s.run(cmd, a) }
	})
}

type record struct {
	token     Token
	partition int32
	key, val  []byte
}

// scriptMachine drives a Machine: appends wait for "appended", ids for
// "allocate", markers for "markers-written"; the log keeps acknowledged
// records for "failover".
type scriptMachine struct {
	m        *Machine
	cfg      Config
	now      int64
	nextCall CallID
	calls    map[CallID]string
	appends  []record
	allocs   []Token
	log      []record
	count    int32
	offsets  int32
}

func newScriptMachine() *scriptMachine {
	cfg := Config{TransactionMaxTimeoutMs: 900000, TransactionalIDExpirationMs: 604800000}
	return &scriptMachine{m: NewMachine(cfg), cfg: cfg, now: 1000, calls: map[CallID]string{}}
}

func (s *scriptMachine) call(kind string) CallID {
	s.nextCall++
	s.calls[s.nextCall] = kind
	return s.nextCall
}

func (s *scriptMachine) run(cmd string, a scripttest.Args) string {
	switch cmd {
	case "config":
		s.cfg.TransactionMaxTimeoutMs = int32(a.Int("max-timeout", int64(s.cfg.TransactionMaxTimeoutMs)))
		s.cfg.TransactionalIDExpirationMs = a.Int("expiration", s.cfg.TransactionalIDExpirationMs)
		s.m = NewMachine(s.cfg)
		return "ok"
	case "partitions":
		s.count, s.offsets = int32(a.Int("count", 1)), int32(a.Int("offsets", 1))
		s.m.SetPartitionCount(s.count, s.offsets)
		for p := range s.count {
			s.m.SetPartition(s.now, p, PartitionActive, int32(a.Int("epoch", 0)))
		}
	case "lease":
		s.m.SetLeaseLost(a.Str("lost", "true") == "true")
		return "ok"
	case "init":
		req := kmsg.NewPtrInitProducerIDRequest()
		req.Version = int16(a.Int("v", 4))
		id := a.Str("id", "a")
		req.TransactionalID = &id
		req.TransactionTimeoutMillis = int32(a.Int("timeout", 60000))
		req.ProducerID, req.ProducerEpoch = a.Int("pid", -1), int16(a.Int("epoch", -1))
		s.m.Request(s.now, s.call("init"), req)
	case "add":
		req := kmsg.NewPtrAddPartitionsToTxnRequest()
		req.Version = 3
		req.TransactionalID, req.ProducerID, req.ProducerEpoch = a.Str("id", "a"), a.Int("pid", 0), int16(a.Int("epoch", 0))
		eachTopic(a.Str("parts", "t:0"), func(name string, parts []int32) {
			req.Topics = append(req.Topics, kmsg.AddPartitionsToTxnRequestTopic{Topic: name, Partitions: parts})
		})
		s.m.Request(s.now, s.call("add"), req)
	case "verify":
		req := kmsg.NewPtrAddPartitionsToTxnRequest()
		req.Version = 4
		for _, spec := range a.List("txns") { // id/pid/epoch/topic:p
			f := strings.Split(spec, "/")
			pid, _ := strconv.ParseInt(f[1], 10, 64)
			ep, _ := strconv.Atoi(f[2])
			name, ps, _ := strings.Cut(f[3], ":")
			p, _ := strconv.Atoi(ps)
			req.Transactions = append(req.Transactions, kmsg.AddPartitionsToTxnRequestTransaction{
				TransactionalID: f[0], ProducerID: pid, ProducerEpoch: int16(ep), VerifyOnly: true,
				Topics: []kmsg.AddPartitionsToTxnRequestTransactionTopic{{Topic: name, Partitions: []int32{int32(p)}}}})
		}
		s.m.Request(s.now, s.call("verify"), req)
	case "implicit": // a partition leader adds partitions for a producer (KIP-890 part 2)
		req := kmsg.NewPtrAddPartitionsToTxnRequest()
		req.Version = 5
		rx := kmsg.AddPartitionsToTxnRequestTransaction{TransactionalID: a.Str("id", "a"), ProducerID: a.Int("pid", 0), ProducerEpoch: int16(a.Int("epoch", 0))}
		eachTopic(a.Str("parts", "t:0"), func(name string, parts []int32) {
			rx.Topics = append(rx.Topics, kmsg.AddPartitionsToTxnRequestTransactionTopic{Topic: name, Partitions: parts})
		})
		req.Transactions = append(req.Transactions, rx)
		s.m.Request(s.now, s.call("implicit"), req)
	case "offsets":
		req := kmsg.NewPtrAddOffsetsToTxnRequest()
		req.TransactionalID, req.ProducerID, req.ProducerEpoch = a.Str("id", "a"), a.Int("pid", 0), int16(a.Int("epoch", 0))
		req.Group = a.Str("group", "g")
		s.m.Request(s.now, s.call("offsets"), req)
	case "end":
		req := kmsg.NewPtrEndTxnRequest()
		req.Version = int16(a.Int("v", 4))
		req.TransactionalID, req.ProducerID, req.ProducerEpoch = a.Str("id", "a"), a.Int("pid", 0), int16(a.Int("epoch", 0))
		req.Commit = a.Flag("commit")
		s.m.Request(s.now, s.call("end"), req)
	case "describe":
		req := kmsg.NewPtrDescribeTransactionsRequest()
		req.TransactionalIDs = a.List("ids")
		s.m.Request(s.now, s.call("describe"), req)
	case "list":
		req := kmsg.NewPtrListTransactionsRequest()
		req.Version = 1
		req.StateFilters = a.List("states")
		req.DurationFilterMillis = a.Int("longer-than", -1)
		s.m.Request(s.now, s.call("list"), req)
	case "appended":
		n := int(a.Int("n", int64(len(s.appends))))
		code := int16(a.Int("code", 0))
		done := s.appends[:n]
		s.appends = slices.Clone(s.appends[n:])
		for _, r := range done {
			if code == 0 {
				s.log = append(s.log, r)
			}
			s.m.Appended(s.now, r.token, code)
		}
	case "allocate":
		tok := s.allocs[0]
		s.allocs = s.allocs[1:]
		s.m.IDAllocated(s.now, tok, a.Int("pid", 1000), int16(a.Int("code", 0)))
	case "markers-written":
		s.m.MarkersWritten(s.now, a.Str("id", "a"), a.Int("pid", 0), int16(a.Int("epoch", 0)))
	case "advance":
		s.now += a.Int("ms", 0)
		s.m.Tick(s.now)
	case "stored": // a record in the log, as a coordinator before stored it
		id := a.Str("id", "a")
		t := &txnMeta{id: id, producerID: a.Int("pid", 0), epoch: int16(a.Int("epoch", 0)), timeoutMs: 60000,
			partitions: map[TopicPartition]bool{}, tv2: a.Flag("tv2"), prevProducerID: -1, nextProducerID: -1}
		for _, st := range allStates {
			if st.String() == a.Str("state", "Empty") {
				t.state = st
			}
		}
		s.log = append(s.log, record{partition: PartitionFor(id, s.count), key: recordKey(id), val: t.recordValue()})
		return "ok"
	case "failover":
		// A new coordinator loads the stored records; pending appends
		// never made it.
		s.appends, s.allocs = nil, nil
		s.m = NewMachine(s.cfg)
		s.m.SetPartitionCount(s.count, s.offsets)
		for p := range s.count {
			s.m.SetPartition(s.now, p, PartitionLoading, 0)
			for _, r := range s.log {
				if r.partition == p {
					if err := s.m.Load(p, r.key, r.val); err != nil {
						return err.Error()
					}
				}
			}
			s.m.SetPartition(s.now, p, PartitionActive, int32(a.Int("epoch", 1)))
		}
	case "state":
		var b strings.Builder
		for _, id := range sortedIDs(s.m.txns) {
			t := s.m.txns[id]
			fmt.Fprintf(&b, "%s pid=%d epoch=%d state=%s parts=%v pending=%v%s\n", id, t.producerID, t.epoch, t.state, fmtParts(t.sortedPartitions()), t.pending, fmtTV2(t))
		}
		return b.String()
	default:
		a.Fatalf("unknown command %q", cmd)
	}
	return s.actions()
}

// eachTopic calls f for each topic of a "topic:p,p;topic:p" spec.
func eachTopic(spec string, f func(name string, parts []int32)) {
	for _, tp := range strings.Split(spec, ";") {
		name, ps, _ := strings.Cut(tp, ":")
		var parts []int32
		for _, p := range strings.Split(ps, ",") {
			n, _ := strconv.Atoi(p)
			parts = append(parts, int32(n))
		}
		f(name, parts)
	}
}

// fmtTV2 shows the transaction version 2 fields, when in use.
func fmtTV2(t *txnMeta) string {
	if !t.tv2 {
		return ""
	}
	return fmt.Sprintf(" tv2 prev=%d next=%d", t.prevProducerID, t.nextProducerID)
}

func fmtParts(tps []TopicPartition) string {
	out := make([]string, len(tps))
	for i, tp := range tps {
		out[i] = fmt.Sprintf("%s-%d", tp.Topic, tp.Partition)
	}
	return "[" + strings.Join(out, " ") + "]"
}

func errName(code int16) string {
	if code == 0 {
		return "OK"
	}
	return kerr.ErrorForCode(code).(*kerr.Error).Message
}

func (s *scriptMachine) actions() string {
	var b strings.Builder
	for _, act := range s.m.TakeActions() {
		switch act := act.(type) {
		case Reply:
			fmt.Fprintf(&b, "reply %d: %s %s\n", act.Call, s.calls[act.Call], fmtResp(act.Resp))
		case Append:
			s.appends = append(s.appends, record{act.Token, act.Partition, act.Key, act.Value})
			id, _, _ := parseKey(act.Key)
			if act.Value == nil {
				fmt.Fprintf(&b, "append p=%d: %s tombstone\n", act.Partition, id)
				continue
			}
			t, err := parseValue(id, act.Partition, act.Value)
			if err != nil {
				fmt.Fprintf(&b, "append p=%d: %v\n", act.Partition, err)
				continue
			}
			fmt.Fprintf(&b, "append p=%d: %s pid=%d epoch=%d state=%s parts=%v%s\n", act.Partition, id, t.producerID, t.epoch, t.state, fmtParts(t.sortedPartitions()), fmtTV2(t))
		case AllocateID:
			s.allocs = append(s.allocs, act.Token)
			fmt.Fprintf(&b, "allocate-id\n")
		case WriteMarkers:
			kind := "abort"
			if act.Commit {
				kind = "commit"
			}
			fmt.Fprintf(&b, "markers %s pid=%d epoch=%d %s coordinator-epoch=%d %v\n", act.TransactionalID, act.ProducerID, act.ProducerEpoch, kind, act.CoordinatorEpoch, fmtParts(act.Partitions))
		}
	}
	return b.String()
}

func fmtResp(r kmsg.Response) string {
	switch r := r.(type) {
	case *kmsg.InitProducerIDResponse:
		return fmt.Sprintf("%s pid=%d epoch=%d", errName(r.ErrorCode), r.ProducerID, r.ProducerEpoch)
	case *kmsg.AddPartitionsToTxnResponse:
		var parts []string
		for _, t := range r.Topics {
			for _, p := range t.Partitions {
				parts = append(parts, fmt.Sprintf("%s-%d:%s", t.Topic, p.Partition, errName(p.ErrorCode)))
			}
		}
		for _, x := range r.Transactions {
			for _, t := range x.Topics {
				for _, p := range t.Partitions {
					parts = append(parts, fmt.Sprintf("%s/%s-%d:%s", x.TransactionalID, t.Topic, p.Partition, errName(p.ErrorCode)))
				}
			}
		}
		return strings.Join(parts, " ")
	case *kmsg.AddOffsetsToTxnResponse:
		return errName(r.ErrorCode)
	case *kmsg.EndTxnResponse:
		if r.ProducerID >= 0 { // v5+: the next transaction's producer
			return fmt.Sprintf("%s pid=%d epoch=%d", errName(r.ErrorCode), r.ProducerID, r.ProducerEpoch)
		}
		return errName(r.ErrorCode)
	case *kmsg.DescribeTransactionsResponse:
		var out []string
		for _, t := range r.TransactionStates {
			out = append(out, fmt.Sprintf("%s:%s state=%s pid=%d epoch=%d timeout=%d start=%d topics=%v",
				t.TransactionalID, errName(t.ErrorCode), t.State, t.ProducerID, t.ProducerEpoch, t.TimeoutMillis, t.StartTimestamp, t.Topics))
		}
		return strings.Join(out, " ")
	case *kmsg.ListTransactionsResponse:
		out := []string{errName(r.ErrorCode)}
		for _, t := range r.TransactionStates {
			out = append(out, fmt.Sprintf("%s/%d/%s", t.TransactionalID, t.ProducerID, t.TransactionState))
		}
		if len(r.UnknownStateFilters) > 0 {
			out = append(out, fmt.Sprintf("unknown=%v", r.UnknownStateFilters))
		}
		return strings.Join(out, " ")
	}
	return fmt.Sprintf("%T", r)
}
