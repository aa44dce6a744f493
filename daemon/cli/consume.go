package cli

import (
	"cmp"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// consumedRecord is one record as --json prints it, a line each.
type consumedRecord struct {
	Topic     string         `json:"topic"`
	Partition int32          `json:"partition"`
	Offset    int64          `json:"offset"`
	Timestamp time.Time      `json:"timestamp"`
	Key       *string        `json:"key"`
	Value     *string        `json:"value"`
	Headers   []recordHeader `json:"headers"`
}

type recordHeader struct {
	Key   string `json:"key"`
	Value string `json:"value"`
}

// consumeFlags are the consume command's own flags.
type consumeFlags struct {
	offset     string
	partitions []int32
	count      int
	exitAtEnd  bool
	group      string
	keyDelim   string
	base64     bool
}

func consume(e *env, args []string) error {
	fs := e.flags("TOPIC", "Print a topic's records: values one per line, or with --json one JSON object per line.\n"+
		"Runs until interrupted, unless -n or -e says when to stop.")
	var f consumeFlags
	fs.StringVar(&f.offset, "o", "start", "where to start: start, end or an `offset` (with -g: only without a committed offset)")
	fs.Func("p", "consume only this `partition` (repeatable)", func(s string) error {
		n, err := strconv.ParseInt(s, 10, 32)
		if err != nil || n < 0 {
			return fmt.Errorf("want a partition number, got %q", s)
		}
		f.partitions = append(f.partitions, int32(n))
		return nil
	})
	fs.IntVar(&f.count, "n", 0, "stop after `count` records (0: no limit)")
	fs.BoolVar(&f.exitAtEnd, "e", false, "stop at the end of every partition, as it was at start (with -g: of every partition assigned)")
	fs.StringVar(&f.group, "g", "", "consume as a member of this consumer `group`, committing what is printed")
	fs.StringVar(&f.keyDelim, "K", "", "print each key, then this `delimiter`, then the value")
	fs.BoolVar(&f.base64, "base64", false, "print keys, values and header values as base64: their exact bytes\n"+
		"(otherwise control characters and bytes that are not UTF-8 are escaped: \\n, \\x00)")
	positional, err := e.parse(fs, args, 1, 1, "topic name")
	if err != nil {
		return err
	}
	start, err := parseStartAt(f.offset)
	if err != nil {
		return err
	}
	switch {
	case f.count < 0:
		return usageErrorf("-n %d: want a count of records, or 0", f.count)
	case f.group != "" && len(f.partitions) > 0:
		return usageErrorf("-g decides partitions by group assignment: -p does not apply")
	}
	topic := positional[0]
	c := &consumer{e: e, flags: f, topic: topic, start: start, enc: json.NewEncoder(e.stdout), started: make(chan struct{})}
	opts := []kgo.Opt{kgo.ConsumeResetOffset(start.kgoOffset())}
	if f.group != "" {
		opts = append(opts, kgo.ConsumerGroup(f.group), kgo.ConsumeTopics(topic), kgo.DisableAutoCommit())
		if f.exitAtEnd {
			opts = append(opts, kgo.OnPartitionsAssigned(c.onAssigned), kgo.OnPartitionsRevoked(c.onRevoked), kgo.OnPartitionsLost(c.onRevoked))
		}
	}
	cl, ctx, cancel, err := e.connect(opts...)
	if err != nil {
		return err
	}
	defer cl.Close()
	c.cl = cl
	adm := kadm.NewClient(cl)
	if f.group != "" {
		err = requireAPIs(ctx, adm, []kmsg.Key{kmsg.FindCoordinator, kmsg.JoinGroup, kmsg.SyncGroup, kmsg.Heartbeat, kmsg.OffsetCommit, kmsg.OffsetFetch})
	}
	var ends map[int32]partitionLog
	if err == nil {
		ends, err = partitionEnds(ctx, adm, topic, f.partitions)
	}
	cancel()
	if err != nil {
		return err
	}
	if f.group == "" {
		assign := map[int32]kgo.Offset{}
		for p := range ends {
			assign[p] = start.kgoOffset()
		}
		cl.AddConsumePartitions(map[string]map[int32]kgo.Offset{topic: assign})
	}
	c.ends = ends
	close(c.started)
	if f.exitAtEnd && f.group == "" {
		c.remaining = map[int32]int64{}
		for p, l := range ends {
			if start.position(l) < l.end {
				c.remaining[p] = l.end
			}
		}
	}
	return c.run()
}

// startAt is consume's -o: "start", "end", or an offset.
type startAt struct {
	where  string
	offset int64 // when where is "offset"
}

func parseStartAt(s string) (startAt, error) {
	if s == "start" || s == "end" {
		return startAt{where: s}, nil
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 0 {
		return startAt{}, usageErrorf("-o %q: want start, end or an offset", s)
	}
	return startAt{where: "offset", offset: n}, nil
}

func (s startAt) kgoOffset() kgo.Offset {
	switch s.where {
	case "start":
		return kgo.NewOffset().AtStart()
	case "end":
		return kgo.NewOffset().AtEnd()
	}
	return kgo.NewOffset().At(s.offset)
}

// position is where reading a partition with log range l begins; an
// offset outside the log is reset to its nearer end.
func (s startAt) position(l partitionLog) int64 {
	switch s.where {
	case "start":
		return l.start
	case "end":
		return l.end
	}
	return min(max(s.offset, l.start), l.end)
}

// partitionLog is the offset range of one partition when consume started.
type partitionLog struct{ start, end int64 }

// partitionEnds lists the topic's partitions (or those named) with their
// log range; an unknown topic or partition is an error.
func partitionEnds(ctx context.Context, adm *kadm.Client, topic string, only []int32) (map[int32]partitionLog, error) {
	starts, ends, err := offsetRange(ctx, adm, []string{topic})
	if err != nil {
		return nil, err
	}
	logs := map[int32]partitionLog{}
	var errs []error
	ends.Each(func(o kadm.ListedOffset) {
		start, _ := starts.Lookup(topic, o.Partition)
		if err := cmp.Or(o.Err, start.Err); err != nil {
			errs = append(errs, err)
			return
		}
		logs[o.Partition] = partitionLog{start.Offset, o.Offset}
	})
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("topic %s: %w", topic, err)
	}
	if len(only) == 0 {
		return logs, nil
	}
	picked := map[int32]partitionLog{}
	for _, p := range only {
		l, ok := logs[p]
		if !ok {
			return nil, fmt.Errorf("topic %s has no partition %d", topic, p)
		}
		picked[p] = l
	}
	return picked, nil
}

// consumer prints records until its stop condition.
type consumer struct {
	e     *env
	cl    *kgo.Client
	flags consumeFlags
	topic string
	start startAt
	enc   *json.Encoder

	printed int
	// ends are the topic's log ranges when consume started; set once
	// started is closed (a group member may be assigned before).
	ends    map[int32]partitionLog
	started chan struct{}

	mu sync.Mutex // guards what follows: group callbacks run concurrently
	// With -e: each partition not yet read to its end, and that end. With
	// -g, nil until the first assignment, then the assigned partitions'.
	remaining map[int32]int64
	assigned  map[int32]bool // with -g -e, the partitions this member has
	wake      context.CancelFunc
	groupErr  error
}

// run polls and prints until -n records are printed, -e's ends are
// reached, or the context ends (an interrupt: not an error), then says on
// stderr how many records it printed and why it stopped. With -g, what
// each poll printed is committed before the next.
func (c *consumer) run() error {
	ctx := c.e.ctx
	for {
		// A group callback cancels the poll when -e is met with nothing
		// left to fetch, or fails: PollFetches would wait on. Set before
		// checking done, so that no wake-up falls between the two.
		pollCtx, wake := context.WithCancel(ctx)
		c.mu.Lock()
		c.wake = wake
		c.mu.Unlock()
		if c.done() {
			wake()
			break
		}
		fetches := c.cl.PollFetches(pollCtx)
		woken := pollCtx.Err() != nil
		wake()
		if ctx.Err() != nil {
			fmt.Fprintf(c.e.stderr, "consumed %s: interrupted\n", records(c.printed))
			return nil
		}
		c.mu.Lock()
		err := c.groupErr
		c.mu.Unlock()
		if err != nil {
			return err
		}
		var errs []error
		fetches.EachError(func(topic string, p int32, err error) {
			if woken && errors.Is(err, context.Canceled) {
				return // the wake-up itself, not a failure
			}
			errs = append(errs, fmt.Errorf("%s[%d]: %w", topic, p, err))
		})
		if err := errors.Join(errs...); err != nil {
			return err
		}
		var printed []*kgo.Record
		for it := fetches.RecordIter(); !it.Done() && !c.done(); {
			r := it.Next()
			if c.take(r) {
				c.print(r)
				printed = append(printed, r)
			}
		}
		if c.flags.group != "" && len(printed) > 0 {
			if err := c.cl.CommitRecords(ctx, printed...); err != nil {
				return fmt.Errorf("group %s: commit: %w", c.flags.group, err)
			}
		}
	}
	switch n := c.flags.count; {
	case n > 0 && c.printed == n:
		fmt.Fprintf(c.e.stderr, "consumed %s\n", records(n))
	case n > 0:
		fmt.Fprintf(c.e.stderr, "consumed %s: reached the end of %s before -n %d\n", records(c.printed), c.topic, n)
	default:
		fmt.Fprintf(c.e.stderr, "consumed %s: reached the end of %s\n", records(c.printed), c.topic)
	}
	return nil
}

// records is "1 record" or "n records".
func records(n int) string {
	if n == 1 {
		return "1 record"
	}
	return strconv.Itoa(n) + " records"
}

func (c *consumer) done() bool {
	if c.flags.count > 0 && c.printed >= c.flags.count {
		return true
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.atEndLocked()
}

// atEndLocked reports whether -e is met: every partition read to its end
// (with -g: every partition assigned, once some are).
func (c *consumer) atEndLocked() bool {
	return c.remaining != nil && len(c.remaining) == 0 && (c.flags.group == "" || len(c.assigned) > 0)
}

// take reports whether r is to be printed: with -e, only records before
// their partition's end.
func (c *consumer) take(r *kgo.Record) bool {
	if !c.flags.exitAtEnd {
		return true
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	end, ok := c.remaining[r.Partition]
	if !ok {
		return false
	}
	if r.Offset+1 >= end {
		delete(c.remaining, r.Partition)
	}
	return r.Offset < end
}

func (c *consumer) print(r *kgo.Record) {
	c.printed++
	if c.e.json {
		out := consumedRecord{Topic: r.Topic, Partition: r.Partition, Offset: r.Offset, Timestamp: r.Timestamp,
			Key: c.optJSONText(r.Key), Value: c.optJSONText(r.Value), Headers: []recordHeader{}}
		for _, h := range r.Headers {
			out.Headers = append(out.Headers, recordHeader{h.Key, c.jsonText(h.Value)})
		}
		_ = c.enc.Encode(out) // a broken stdout shows as the process dying of SIGPIPE
		return
	}
	if c.flags.keyDelim != "" {
		fmt.Fprintf(c.e.stdout, "%s%s", c.text(r.Key), c.flags.keyDelim)
	}
	fmt.Fprintf(c.e.stdout, "%s\n", c.text(r.Value))
}

// text is b as a line prints it: base64 with --base64, else escaped.
func (c *consumer) text(b []byte) string {
	if c.flags.base64 {
		return base64.StdEncoding.EncodeToString(b)
	}
	return escape(b)
}

// jsonText is b as a JSON string holds it: base64 with --base64, UTF-8
// text as it is (JSON escapes control characters itself), anything else
// escaped.
func (c *consumer) jsonText(b []byte) string {
	if !c.flags.base64 && utf8.Valid(b) {
		return string(b)
	}
	return c.text(b)
}

// optJSONText is jsonText, or null for a null key or value.
func (c *consumer) optJSONText(b []byte) *string {
	if b == nil {
		return nil
	}
	s := c.jsonText(b)
	return &s
}

// escape is b for a terminal: UTF-8 text as it is, control characters
// (tab aside) and bytes that are not UTF-8 escaped as Go escapes them
// (\n, \r, \x00, \u0085), so that a record stays on one line and binary
// data cannot drive the terminal. It is for reading, not reversible (text
// that holds a backslash reads the same): --base64 gives the exact bytes.
func escape(b []byte) string {
	var sb strings.Builder
	for len(b) > 0 {
		r, size := utf8.DecodeRune(b)
		switch {
		case r == utf8.RuneError && size == 1:
			fmt.Fprintf(&sb, `\x%02x`, b[0])
		case r == '\n':
			sb.WriteString(`\n`)
		case r == '\r':
			sb.WriteString(`\r`)
		case r == '\t' || unicode.IsGraphic(r):
			sb.Write(b[:size])
		case r < utf8.RuneSelf:
			fmt.Fprintf(&sb, `\x%02x`, r)
		case r <= 0xffff:
			fmt.Fprintf(&sb, `\u%04x`, r)
		default:
			fmt.Fprintf(&sb, `\U%08x`, r)
		}
		b = b[size:]
	}
	return sb.String()
}
