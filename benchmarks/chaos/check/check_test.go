package check

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

var t0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

func at(s int) time.Time { return t0.Add(time.Duration(s) * time.Second) }

// clean is a history with nothing wrong: two partitions of five records,
// every one acknowledged, a direct reader and a group session that began
// at a committed offset, commits that only move forward, and identical
// replicas; and transactions read_committed saw whole or not at all: t/0
// committed, t/1 aborted, t/2 and t/3 of unknown outcome (one went
// through, one did not).
func clean() History {
	h := History{Final: map[int32][]Record{}}
	for p := int32(0); p < 2; p++ {
		for o := int64(0); o < 5; o++ {
			v := fmt.Sprintf("v%d-%d", p, o)
			h.Final[p] = append(h.Final[p], Record{Offset: o, Value: v})
			h.Acks = append(h.Acks, Ack{Partition: p, Offset: o, Value: v, Time: at(int(o))})
			h.Reads = append(h.Reads, Read{Reader: "direct-0", Direct: true, Partition: p, Offset: o, Value: v, Time: at(int(o) + 1)})
			if o >= 2 {
				h.Reads = append(h.Reads, Read{Reader: "group-c0-g1", Group: "g", Partition: p, Offset: o, Value: v, Time: at(int(o) + 1)})
			}
		}
		h.Commits = append(h.Commits,
			Commit{Group: "g", Partition: p, Offset: 2, Time: at(2), Source: "ack"},
			Commit{Group: "g", Partition: p, Offset: 2, Time: at(3), Source: "fetch"},
			Commit{Group: "g", Partition: p, Offset: 5, Time: at(6), Source: "ack"})
		for n := int32(1); n <= 3; n++ {
			h.Replicas = append(h.Replicas, ReplicaFile{Node: n, Partition: p, Name: "00000000000000000000.log", Size: 100, SHA256: "ab"})
		}
	}
	outcomes := []string{Committed, Aborted, Unknown, Unknown}
	offset := map[int32]int64{}
	for i, outcome := range outcomes {
		t := Txn{ID: fmt.Sprintf("t/%d", i), Outcome: outcome, Time: at(i)}
		for p := int32(0); p < 2; p++ {
			v := fmt.Sprintf("t%d-%d", i, p)
			t.Records = append(t.Records, TxnWrite{Partition: p, Value: v})
			if i == 0 || i == 2 {
				h.TxnReads = append(h.TxnReads, Read{Reader: "committed-0", Direct: true, Partition: p, Offset: offset[p], Value: v, Time: at(9)})
			}
			offset[p] += 2 // the marker follows
		}
		h.Txns = append(h.Txns, t)
	}
	return h
}

// dropTxnRead removes the read_committed read of value.
func dropTxnRead(h *History, value string) {
	var reads []Read
	for _, r := range h.TxnReads {
		if r.Value != value {
			reads = append(reads, r)
		}
	}
	h.TxnReads = reads
}

// readTxn adds a read_committed read of value in partition 0.
func readTxn(h *History, value string) {
	h.TxnReads = append(h.TxnReads, Read{Reader: "committed-0", Direct: true, Partition: 0, Offset: 20, Value: value, Time: at(9)})
}

func TestCleanHistoryPasses(t *testing.T) {
	if got := Check(clean()); len(got) != 0 {
		t.Fatalf("clean history has anomalies: %+v", got)
	}
}

// Each case plants one anomaly in a clean history and names the kinds
// Check must report (a planted fault may break more than one rule).
func TestPlantedAnomalies(t *testing.T) {
	cases := []struct {
		name  string
		plant func(h *History)
		want  []string
	}{
		{"lost acknowledged record", func(h *History) {
			// Offset 4 of partition 1 vanished (its log ends at 3): the
			// readers saw it, so their reads are no longer of the final log.
			h.Final[1] = h.Final[1][:4]
		}, []string{Lost, NonPrefix}},
		{"lost acknowledged record in the middle", func(h *History) {
			h.Final[1] = append(h.Final[1][:2:2], h.Final[1][3:]...)
		}, []string{Lost, NonPrefix}},
		{"lost without any read", func(h *History) {
			h.Acks = append(h.Acks, Ack{Partition: 0, Offset: 5, Value: "v0-5", Time: at(9)})
		}, []string{Lost}},
		{"acknowledged record replaced", func(h *History) {
			h.Final[0][3].Value = "other"
		}, []string{Divergent, Lost, NonPrefix}},
		{"duplicate", func(h *History) {
			h.Final[0] = append(h.Final[0], Record{Offset: 5, Value: "v0-4"})
			h.Reads = append(h.Reads, Read{Reader: "direct-0", Direct: true, Partition: 0, Offset: 5, Value: "v0-4", Time: at(9)},
				Read{Reader: "group-c0-g1", Group: "g", Partition: 0, Offset: 5, Value: "v0-4", Time: at(9)})
		}, []string{Duplicate}},
		{"divergent read at one offset", func(h *History) {
			h.Reads = append(h.Reads, Read{Reader: "group-c9-s1", Partition: 0, Offset: 0, Value: "ghost", Time: at(1)})
		}, []string{Divergent, NonPrefix}},
		{"readers stuck before the end", func(h *History) {
			h.Final[1] = append(h.Final[1], Record{Offset: 5, Value: "v1-5"})
			h.Acks = append(h.Acks, Ack{Partition: 1, Offset: 5, Value: "v1-5", Time: at(9)})
		}, []string{StuckReader}},
		{"group stuck before the end", func(h *History) {
			h.Final[1] = append(h.Final[1], Record{Offset: 5, Value: "v1-5"})
			h.Reads = append(h.Reads, Read{Reader: "direct-0", Direct: true, Partition: 1, Offset: 5, Value: "v1-5", Time: at(9)})
		}, []string{StuckReader}},
		{"read that skips a record", func(h *History) {
			var reads []Read
			for _, r := range h.Reads {
				if !(r.Reader == "direct-0" && r.Partition == 1 && r.Offset == 2) {
					reads = append(reads, r)
				}
			}
			h.Reads = reads
		}, []string{NonPrefix}},
		{"direct reader not from the start", func(h *History) {
			// It also stopped there, so it is stuck as well.
			h.Reads = append(h.Reads, Read{Reader: "direct-1", Direct: true, Partition: 0, Offset: 1, Value: "v0-1", Time: at(1)})
		}, []string{NonPrefix, StuckReader}},
		{"rewound commit", func(h *History) {
			h.Commits = append(h.Commits, Commit{Group: "g", Partition: 1, Offset: 3, Time: at(7), Source: "fetch"})
		}, []string{RewoundCommit}},
		{"replicas differ", func(h *History) {
			h.Replicas[4].SHA256 = "cd"
		}, []string{ReplicaMismatch}},
		{"replica missing a file", func(h *History) {
			h.Replicas = append(h.Replicas, ReplicaFile{Node: 2, Partition: 0, Name: "00000000000000000005.log", Size: 10, SHA256: "ef"})
		}, []string{ReplicaMismatch}},
		{"committed transaction partly lost", func(h *History) {
			dropTxnRead(h, "t0-1")
		}, []string{TxnLost, TxnTorn}},
		{"committed transaction wholly lost", func(h *History) {
			dropTxnRead(h, "t0-0")
			dropTxnRead(h, "t0-1")
		}, []string{TxnLost}},
		{"unknown-outcome transaction torn", func(h *History) {
			dropTxnRead(h, "t2-0")
		}, []string{TxnTorn}},
		{"unknown-outcome transaction half visible", func(h *History) {
			readTxn(h, "t3-1")
		}, []string{TxnTorn}},
		{"aborted transaction read", func(h *History) {
			readTxn(h, "t1-0")
			readTxn(h, "t1-1")
		}, []string{TxnAbortedRead}},
		{"aborted transaction partly read", func(h *History) {
			readTxn(h, "t1-1")
		}, []string{TxnAbortedRead, TxnTorn}},
		{"transaction record read twice", func(h *History) {
			readTxn(h, "t0-0")
		}, []string{TxnDuplicate}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			h := clean()
			c.plant(&h)
			got := Check(h)
			kinds := map[string]bool{}
			for _, a := range got {
				kinds[a.Kind] = true
				if len(a.Records) == 0 || a.Detail == "" {
					t.Errorf("anomaly without its records: %+v", a)
				}
			}
			var names []string
			for k := range kinds {
				names = append(names, k)
			}
			for _, w := range c.want {
				if !kinds[w] {
					t.Errorf("want a %s anomaly, got %+v", w, got)
				}
			}
			if len(kinds) != len(c.want) {
				t.Errorf("kinds %s, want exactly %s: %+v", strings.Join(names, ","), strings.Join(c.want, ","), got)
			}
		})
	}
}

// A group session may begin at the committed offset, and a new session
// may re-read what an earlier one read (at-least-once), without anomaly.
func TestGroupSessionsMayOverlap(t *testing.T) {
	h := clean()
	for o := int64(1); o < 5; o++ {
		v := fmt.Sprintf("v0-%d", o)
		h.Reads = append(h.Reads, Read{Reader: "group-c1-g2", Group: "g", Partition: 0, Offset: o, Value: v, Time: at(8)})
	}
	if got := Check(h); len(got) != 0 {
		t.Fatalf("anomalies: %+v", got)
	}
}
