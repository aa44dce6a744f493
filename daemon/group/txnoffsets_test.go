package group

import (
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// txnHarness drives a Machine directly: appends succeed at once and are
// kept, with their producer, for a replay.
type txnHarness struct {
	t    *testing.T
	m    *Machine
	call CallID
	log  []Append
}

func newTxnHarness(t *testing.T) *txnHarness {
	h := &txnHarness{t: t, m: NewMachine(DefaultConfig(), func(c string) string { return c + "-1" })}
	h.m.SetPartitionCount(1)
	h.m.SetPartition(0, 0, PartitionActive)
	return h
}

// do sends req and returns its reply, completing appends on the way.
func (h *txnHarness) do(req kmsg.Request) kmsg.Response {
	h.t.Helper()
	h.call++
	h.m.Request(0, Caller{Call: h.call}, req)
	for {
		acts := h.m.TakeActions()
		if len(acts) == 0 {
			h.t.Fatalf("no reply to %T", req)
		}
		for _, act := range acts {
			switch act := act.(type) {
			case Append:
				h.log = append(h.log, act)
				h.m.Appended(0, act.Token, 0)
			case Reply:
				return act.Resp
			}
		}
	}
}

func (h *txnHarness) txnCommit(pid int64, offset int64) {
	h.t.Helper()
	req := kmsg.NewPtrTxnOffsetCommitRequest()
	req.Group, req.ProducerID, req.ProducerEpoch, req.Generation = "g", pid, 0, -1
	req.Topics = []kmsg.TxnOffsetCommitRequestTopic{{Topic: "t", Partitions: []kmsg.TxnOffsetCommitRequestTopicPartition{{Partition: 0, Offset: offset, LeaderEpoch: -1}}}}
	resp := h.do(req).(*kmsg.TxnOffsetCommitResponse)
	if code := resp.Topics[0].Partitions[0].ErrorCode; code != 0 {
		h.t.Fatalf("TxnOffsetCommit: %v", kerr.ErrorForCode(code))
	}
	if last := h.log[len(h.log)-1]; last.Producer == nil || last.Producer.ID != pid {
		h.t.Fatalf("TxnOffsetCommit appended %+v, want a transactional batch of producer %d", last, pid)
	}
}

// fetch is the committed offset of t-0 and its error code.
func (h *txnHarness) fetch(requireStable bool) (int64, int16) {
	h.t.Helper()
	req := kmsg.NewPtrOffsetFetchRequest()
	req.Version, req.Group, req.RequireStable = 7, "g", requireStable
	req.Topics = []kmsg.OffsetFetchRequestTopic{{Topic: "t", Partitions: []int32{0}}}
	resp := h.do(req).(*kmsg.OffsetFetchResponse)
	p := resp.Topics[0].Partitions[0]
	return p.Offset, p.ErrorCode
}

func (h *txnHarness) wantOffset(want int64, stableCode int16) {
	h.t.Helper()
	if off, code := h.fetch(false); off != want || code != 0 {
		h.t.Fatalf("offset %d (%v), want %d", off, kerr.ErrorForCode(code), want)
	}
	if _, code := h.fetch(true); code != stableCode {
		h.t.Fatalf("require_stable fetch: %v, want %v", kerr.ErrorForCode(code), kerr.ErrorForCode(stableCode))
	}
}

// TestTxnOffsetsVisibleOnCommit: offsets committed in a transaction are
// pending (UNSTABLE_OFFSET_COMMIT for a require_stable fetch) until the
// commit marker, dropped by an abort, and rebuilt the same way by a
// replay of the log with its markers.
func TestTxnOffsetsVisibleOnCommit(t *testing.T) {
	h := newTxnHarness(t)
	h.txnCommit(5, 10)
	h.wantOffset(-1, kerr.UnstableOffsetCommit.Code)
	h.m.CompleteTxn(0, 5, true)
	h.wantOffset(10, 0)
	h.txnCommit(5, 20)
	h.m.CompleteTxn(0, 5, false)
	h.wantOffset(10, 0)
	h.txnCommit(6, 30) // left open

	// A new coordinator replays the batches with their markers.
	r := newTxnHarness(t)
	r.m.SetPartition(0, 0, PartitionLoading)
	markers := []struct {
		after  int // replay the marker after this many appends
		pid    int64
		commit bool
	}{{1, 5, true}, {2, 5, false}}
	replay := func(b BatchInfo, key, value []byte) {
		if err := r.m.loadBatchRecord(0, 0, b, key, value); err != nil {
			t.Fatal(err)
		}
	}
	for i, a := range h.log {
		for _, rec := range a.Records {
			b := BatchInfo{ProducerID: -1}
			if a.Producer != nil {
				b = BatchInfo{ProducerID: a.Producer.ID, ProducerEpoch: a.Producer.Epoch, Transactional: true}
			}
			replay(b, rec.Key, rec.Value)
		}
		for _, mk := range markers {
			if mk.after == i+1 {
				key := kmsg.ControlRecordKey{Type: kmsg.ControlRecordKeyTypeAbort}
				if mk.commit {
					key.Type = kmsg.ControlRecordKeyTypeCommit
				}
				replay(BatchInfo{ProducerID: mk.pid, Transactional: true, Control: true}, key.AppendTo(nil), nil)
			}
		}
	}
	r.m.SetPartition(0, 0, PartitionActive)
	r.m.TakeActions()
	r.wantOffset(10, kerr.UnstableOffsetCommit.Code)
	r.m.CompleteTxn(0, 6, true)
	r.wantOffset(30, 0)
}
