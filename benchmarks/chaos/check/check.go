// Package check judges the recorded history of a fault-injection run. It
// is pure: a History in, a list of Anomalies out, no I/O, so each rule is
// tested against histories with planted anomalies.
//
// The rules (each an Anomaly kind):
//
//   - lost: an acknowledged (partition, offset, value) is not in the final
//     log at that offset;
//   - duplicate: one value is in the final log of a partition more than once
//     (values are unique per send, so a retry that was appended twice);
//   - divergent: two observations (acknowledgements, reads, the final log)
//     saw different values at one offset of one partition;
//   - non-prefix: a reader's reads of a partition, in order, are not a
//     contiguous run of the final log (a value not there, a skipped record,
//     or a direct reader that did not start at the log start);
//   - stuck-reader: a direct reader, or a consumer group's members
//     together, that given the drain did not read a partition to the end
//     of the final log (a fresh reader could);
//   - rewound-commit: a committed group offset observed lower than one
//     acknowledged or observed before it;
//   - replica-mismatch: the replicas of a partition do not hold identical
//     segment files after the drain.
//
// Transactions (read_committed reads of the transactional topic):
//
//   - txn-lost: a transaction whose commit the producer saw succeed has a
//     record no read_committed reader read;
//   - txn-torn: some but not all of a transaction's records were read, so
//     it was neither committed nor aborted as a whole (this is also how an
//     unknown-outcome transaction fails: it must be all or nothing);
//   - txn-aborted-read: a record of a transaction whose abort the producer
//     saw succeed was read;
//   - txn-duplicate: one read_committed reader read a record of a
//     transaction more than once.
package check

import (
	"fmt"
	"sort"
	"time"
)

// Anomaly kinds.
const (
	Lost            = "lost"
	Duplicate       = "duplicate"
	Divergent       = "divergent"
	NonPrefix       = "non-prefix"
	StuckReader     = "stuck-reader"
	RewoundCommit   = "rewound-commit"
	ReplicaMismatch = "replica-mismatch"
	TxnLost         = "txn-lost"
	TxnTorn         = "txn-torn"
	TxnAbortedRead  = "txn-aborted-read"
	TxnDuplicate    = "txn-duplicate"
)

// Transaction outcomes as the producer saw them.
const (
	Committed = "committed" // EndTransaction(commit) returned nil
	Aborted   = "aborted"   // EndTransaction(abort) returned nil
	Unknown   = "unknown"   // an error ended it: it may have gone either way
)

// Txn is one transaction of a transactional producer: the unique values it
// wrote and how it ended.
type Txn struct {
	ID      string     `json:"id"` // "<transactional id>/<sequence>"
	Records []TxnWrite `json:"records"`
	Outcome string     `json:"outcome"`
	Time    time.Time  `json:"time"` // when the outcome was known
}

// TxnWrite is one record a transaction wrote.
type TxnWrite struct {
	Partition int32  `json:"partition"`
	Value     string `json:"value"`
}

// Ack is a record the cluster acknowledged (acks=all): it promised to keep
// Value at Offset of Partition.
type Ack struct {
	Partition int32     `json:"partition"`
	Offset    int64     `json:"offset"`
	Value     string    `json:"value"`
	Time      time.Time `json:"time"`
}

// Read is one record a reader received, in the order it received them.
type Read struct {
	// Reader names one reading session: a direct reader, or one group
	// member's tenure of a partition (a rebalance starts a new session,
	// which may begin at the committed offset).
	Reader    string    `json:"reader"`
	Direct    bool      `json:"direct,omitempty"` // reads from the log start, so must begin there
	Group     string    `json:"group,omitempty"`  // the consumer group of a member's session
	Partition int32     `json:"partition"`
	Offset    int64     `json:"offset"`
	Value     string    `json:"value"`
	Time      time.Time `json:"time"`
}

// Commit is a committed offset of a group: acknowledged to the committer
// (Time is when the answer arrived) or observed with OffsetFetch (Time is
// when the request was sent, so any commit acknowledged before it must be
// visible).
type Commit struct {
	Group     string    `json:"group"`
	Partition int32     `json:"partition"`
	Offset    int64     `json:"offset"`
	Time      time.Time `json:"time"`
	Source    string    `json:"source"` // "ack", or "fetch ..." naming who answered
}

// Record is one record of the final log.
type Record struct {
	Offset int64  `json:"offset"`
	Value  string `json:"value"`
}

// ReplicaFile is one segment file of one replica of a partition.
type ReplicaFile struct {
	Node      int32  `json:"node"`
	Partition int32  `json:"partition"`
	Name      string `json:"name"` // e.g. 00000000000000000000.log
	Size      int64  `json:"size"`
	SHA256    string `json:"sha256"`
}

// History is what a run recorded.
type History struct {
	Acks    []Ack
	Reads   []Read
	Commits []Commit
	// Final is each partition's log read from the start after healing and
	// the drain, in offset order.
	Final map[int32][]Record
	// Replicas lists the segment files of every replica after the drain;
	// empty skips the byte-identical check.
	Replicas []ReplicaFile
	// Txns are the transactions, and TxnReads the read_committed reads of
	// their topic from its start, after the drain caught up.
	Txns     []Txn
	TxnReads []Read
}

// Anomaly is one violation, with the observations involved.
type Anomaly struct {
	Kind      string `json:"kind"`
	Partition int32  `json:"partition"`
	Offset    int64  `json:"offset"`
	Detail    string `json:"detail"`
	// Records are the observations involved, described one per line.
	Records []string `json:"records,omitempty"`
}

// Check applies every rule and returns the anomalies, sorted by kind,
// partition and offset.
func Check(h History) []Anomaly {
	final := indexFinal(h.Final)
	var out []Anomaly
	out = append(out, lost(h, final)...)
	out = append(out, duplicates(h.Final)...)
	out = append(out, divergent(h)...)
	out = append(out, nonPrefix(h, final)...)
	out = append(out, stuck(h)...)
	out = append(out, rewound(h.Commits)...)
	out = append(out, replicaMismatch(h.Replicas)...)
	out = append(out, txns(h.Txns, h.TxnReads)...)
	sort.SliceStable(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if a.Kind != b.Kind {
			return a.Kind < b.Kind
		}
		if a.Partition != b.Partition {
			return a.Partition < b.Partition
		}
		return a.Offset < b.Offset
	})
	return out
}

type po struct {
	p int32
	o int64
}

func indexFinal(final map[int32][]Record) map[po]string {
	m := map[po]string{}
	for p, recs := range final {
		for _, r := range recs {
			m[po{p, r.Offset}] = r.Value
		}
	}
	return m
}

func lost(h History, final map[po]string) []Anomaly {
	var out []Anomaly
	for _, a := range h.Acks {
		got, ok := final[po{a.Partition, a.Offset}]
		if ok && got == a.Value {
			continue
		}
		detail := "acknowledged record missing from the final log"
		recs := []string{fmt.Sprintf("ack %s at %s", a.Value, a.Time.Format(time.RFC3339Nano))}
		if ok {
			detail = "acknowledged record replaced in the final log"
			recs = append(recs, "final "+got)
		}
		out = append(out, Anomaly{Kind: Lost, Partition: a.Partition, Offset: a.Offset, Detail: detail, Records: recs})
	}
	return out
}

func duplicates(final map[int32][]Record) []Anomaly {
	var out []Anomaly
	for p, recs := range final {
		at := map[string][]int64{}
		for _, r := range recs {
			at[r.Value] = append(at[r.Value], r.Offset)
		}
		for v, offs := range at {
			if len(offs) < 2 {
				continue
			}
			a := Anomaly{Kind: Duplicate, Partition: p, Offset: offs[0],
				Detail: fmt.Sprintf("value %s at %d offsets", v, len(offs))}
			for _, o := range offs {
				a.Records = append(a.Records, fmt.Sprintf("final offset %d: %s", o, v))
			}
			out = append(out, a)
		}
	}
	return out
}

func divergent(h History) []Anomaly {
	seen := map[po]map[string][]string{} // value -> who saw it
	add := func(p int32, o int64, v, who string) {
		m := seen[po{p, o}]
		if m == nil {
			m = map[string][]string{}
			seen[po{p, o}] = m
		}
		if len(m[v]) < 3 { // enough witnesses to show the split
			m[v] = append(m[v], who)
		}
	}
	for _, a := range h.Acks {
		add(a.Partition, a.Offset, a.Value, "ack at "+a.Time.Format(time.RFC3339Nano))
	}
	for _, r := range h.Reads {
		add(r.Partition, r.Offset, r.Value, "read by "+r.Reader+" at "+r.Time.Format(time.RFC3339Nano))
	}
	for p, recs := range h.Final {
		for _, r := range recs {
			add(p, r.Offset, r.Value, "final log")
		}
	}
	var out []Anomaly
	for k, m := range seen {
		if len(m) < 2 {
			continue
		}
		a := Anomaly{Kind: Divergent, Partition: k.p, Offset: k.o, Detail: fmt.Sprintf("%d different values at one offset", len(m))}
		for _, v := range sortedKeys(m) {
			for _, who := range m[v] {
				a.Records = append(a.Records, v+": "+who)
			}
		}
		out = append(out, a)
	}
	return out
}

func nonPrefix(h History, final map[po]string) []Anomaly {
	// The final log's offsets in order, to tell a skipped record from a gap
	// the log itself has.
	next := map[po]int64{}
	first := map[int32]int64{}
	for p, recs := range h.Final {
		for i, r := range recs {
			if i+1 < len(recs) {
				next[po{p, r.Offset}] = recs[i+1].Offset
			}
		}
		if len(recs) > 0 {
			first[p] = recs[0].Offset
		}
	}
	type session struct {
		reader string
		p      int32
	}
	last := map[session]int64{}
	flagged := map[session]bool{}
	var out []Anomaly
	for _, r := range h.Reads {
		s := session{r.Reader, r.Partition}
		if flagged[s] {
			continue // one anomaly per session: the rest follows from it
		}
		flag := func(detail string) {
			flagged[s] = true
			out = append(out, Anomaly{Kind: NonPrefix, Partition: r.Partition, Offset: r.Offset, Detail: detail,
				Records: []string{fmt.Sprintf("read by %s at %s: %s", r.Reader, r.Time.Format(time.RFC3339Nano), r.Value)}})
		}
		got, ok := final[po{r.Partition, r.Offset}]
		if !ok || got != r.Value {
			flag(fmt.Sprintf("reader %s read a record that is not in the final log there", r.Reader))
			continue
		}
		prev, started := last[s]
		last[s] = r.Offset
		switch {
		case !started && r.Direct && r.Offset != first[r.Partition]:
			flag(fmt.Sprintf("direct reader %s began at offset %d, the log begins at %d", r.Reader, r.Offset, first[r.Partition]))
		case started && r.Offset != next[po{r.Partition, prev}]:
			flag(fmt.Sprintf("reader %s read offset %d after %d; the final log's next offset is %d",
				r.Reader, r.Offset, prev, next[po{r.Partition, prev}]))
		}
	}
	return out
}

// stuck reports each direct reader's, and each group's, partitions not
// read to the end of the final log. The run stops the readers only after
// they caught up or the drain's deadline passed, so a shortfall is a
// reader the cluster stopped serving.
func stuck(h History) []Anomaly {
	type rp struct {
		reader string
		p      int32
	}
	high := map[rp]Read{}
	readers := map[string]bool{}
	for _, r := range h.Reads {
		name := r.Reader
		switch {
		case r.Group != "":
			name = "group " + r.Group
		case !r.Direct:
			continue
		}
		readers[name] = true
		if cur, ok := high[rp{name, r.Partition}]; !ok || r.Offset > cur.Offset {
			high[rp{name, r.Partition}] = r
		}
	}
	var out []Anomaly
	for _, name := range sortedKeys(readers) {
		for p, recs := range h.Final {
			if len(recs) == 0 {
				continue
			}
			end := recs[len(recs)-1]
			last, ok := high[rp{name, p}]
			if ok && last.Offset >= end.Offset {
				continue
			}
			a := Anomaly{Kind: StuckReader, Partition: p, Offset: end.Offset,
				Detail: fmt.Sprintf("%s never read past offset %d; the final log ends at %d", name, last.Offset, end.Offset),
				Records: []string{fmt.Sprintf("last read by %s at %s: offset %d %s", last.Reader, last.Time.Format(time.RFC3339Nano), last.Offset, last.Value),
					fmt.Sprintf("final offset %d: %s", end.Offset, end.Value)}}
			if !ok {
				a.Detail = fmt.Sprintf("%s read nothing; the final log ends at %d", name, end.Offset)
				a.Records = a.Records[1:]
			}
			out = append(out, a)
		}
	}
	return out
}

func rewound(commits []Commit) []Anomaly {
	cs := append([]Commit(nil), commits...)
	sort.SliceStable(cs, func(i, j int) bool { return cs[i].Time.Before(cs[j].Time) })
	type gp struct {
		g string
		p int32
	}
	high := map[gp]Commit{}
	var out []Anomaly
	for _, c := range cs {
		k := gp{c.Group, c.Partition}
		h, ok := high[k]
		if ok && c.Offset < h.Offset {
			out = append(out, Anomaly{Kind: RewoundCommit, Partition: c.Partition, Offset: c.Offset,
				Detail: fmt.Sprintf("group %s: committed offset %d after %d", c.Group, c.Offset, h.Offset),
				Records: []string{
					fmt.Sprintf("%s %d at %s", h.Source, h.Offset, h.Time.Format(time.RFC3339Nano)),
					fmt.Sprintf("%s %d at %s", c.Source, c.Offset, c.Time.Format(time.RFC3339Nano)),
				}})
			continue
		}
		if !ok || c.Offset > h.Offset {
			high[k] = c
		}
	}
	return out
}

func replicaMismatch(files []ReplicaFile) []Anomaly {
	// partition -> file name -> node -> digest
	parts := map[int32]map[string]map[int32]string{}
	nodes := map[int32]map[int32]bool{}
	for _, f := range files {
		if parts[f.Partition] == nil {
			parts[f.Partition] = map[string]map[int32]string{}
			nodes[f.Partition] = map[int32]bool{}
		}
		if parts[f.Partition][f.Name] == nil {
			parts[f.Partition][f.Name] = map[int32]string{}
		}
		parts[f.Partition][f.Name][f.Node] = fmt.Sprintf("%d bytes sha256 %s", f.Size, f.SHA256)
		nodes[f.Partition][f.Node] = true
	}
	var out []Anomaly
	for p, byName := range parts {
		for _, name := range sortedKeys(byName) {
			byNode := byName[name]
			distinct := map[string]bool{}
			for _, d := range byNode {
				distinct[d] = true
			}
			if len(distinct) == 1 && len(byNode) == len(nodes[p]) {
				continue
			}
			a := Anomaly{Kind: ReplicaMismatch, Partition: p, Detail: "replicas differ in segment file " + name}
			for n := range nodes[p] {
				d, ok := byNode[n]
				if !ok {
					d = "missing"
				}
				a.Records = append(a.Records, fmt.Sprintf("node %d: %s", n, d))
			}
			sort.Strings(a.Records)
			out = append(out, a)
		}
	}
	return out
}

func txns(ts []Txn, reads []Read) []Anomaly {
	seen := map[string]Read{}             // value -> its first read
	counts := map[string]map[string]int{} // value -> reader -> reads
	for _, r := range reads {
		if _, ok := seen[r.Value]; !ok {
			seen[r.Value] = r
			counts[r.Value] = map[string]int{}
		}
		counts[r.Value][r.Reader]++
	}
	var out []Anomaly
	for _, t := range ts {
		var read, missing []string
		var first Read
		for _, w := range t.Records {
			r, ok := seen[w.Value]
			if !ok {
				missing = append(missing, fmt.Sprintf("not read: partition %d %s", w.Partition, w.Value))
				continue
			}
			if len(read) == 0 {
				first = r
			}
			read = append(read, fmt.Sprintf("read by %s: partition %d offset %d %s", r.Reader, r.Partition, r.Offset, r.Value))
			for _, reader := range sortedKeys(counts[w.Value]) {
				if n := counts[w.Value][reader]; n > 1 {
					out = append(out, Anomaly{Kind: TxnDuplicate, Partition: r.Partition, Offset: r.Offset,
						Detail:  fmt.Sprintf("%s transaction %s: %s read %s %d times", t.Outcome, t.ID, reader, w.Value, n),
						Records: []string{w.Value}})
				}
			}
		}
		recs := append(append([]string{fmt.Sprintf("transaction %s %s at %s", t.ID, t.Outcome, t.Time.Format(time.RFC3339Nano))}, read...), missing...)
		flag := func(kind, detail string) {
			out = append(out, Anomaly{Kind: kind, Partition: first.Partition, Offset: first.Offset, Detail: detail, Records: recs})
		}
		if t.Outcome == Committed && len(missing) > 0 {
			flag(TxnLost, fmt.Sprintf("committed transaction %s: %d of %d records not read", t.ID, len(missing), len(t.Records)))
		}
		if len(read) > 0 && len(missing) > 0 {
			flag(TxnTorn, fmt.Sprintf("%s transaction %s: %d of %d records read", t.Outcome, t.ID, len(read), len(t.Records)))
		}
		if t.Outcome == Aborted && len(read) > 0 {
			flag(TxnAbortedRead, fmt.Sprintf("aborted transaction %s: %d of %d records read", t.ID, len(read), len(t.Records)))
		}
	}
	return out
}

func sortedKeys[V any](m map[string]V) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}
