package cli

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"

	"github.com/twmb/franz-go/pkg/kgo"
)

// produceResult is one record's outcome, printed as it arrives.
type produceResult struct {
	Topic     string `json:"topic"`
	Partition int32  `json:"partition"`
	Offset    int64  `json:"offset"`
	Error     string `json:"error,omitempty"`
}

func produce(e *env, args []string) error {
	fs := e.flags("TOPIC [VALUE...]", "Produce one record per VALUE, or per line of stdin if none are given (acks=all, idempotent).")
	key := fs.String("k", "", "`key` of every record")
	alias(fs, "key", "k")
	keyDelim := fs.String("K", "", "split each line at the first `delimiter` into key and value")
	partition := fs.Int("p", -1, "produce to this `partition` (-1: by key hash, or spread)")
	alias(fs, "partition", "p")
	var headers []kgo.RecordHeader
	fs.Func("H", "record header `key=value` (repeatable)", func(s string) error {
		k, v, ok := strings.Cut(s, "=")
		if !ok {
			return fmt.Errorf("want key=value, got %q", s)
		}
		headers = append(headers, kgo.RecordHeader{Key: k, Value: []byte(v)})
		return nil
	})
	positional, err := e.parse(fs, args, 1, -1, "topic name")
	if err != nil {
		return err
	}
	if *partition < -1 || *partition > 1<<31-1 {
		return usageErrorf("--partition %d: want a partition number or -1", *partition)
	}
	if *key != "" && *keyDelim != "" {
		return usageErrorf("-k and -K exclude each other")
	}
	topic, values := positional[0], positional[1:]
	opts := []kgo.Opt{kgo.DefaultProduceTopic(topic), kgo.RecordRetries(3)}
	if *partition >= 0 {
		opts = append(opts, kgo.RecordPartitioner(kgo.ManualPartitioner()))
	}
	cl, _, cancel, err := e.connect(opts...)
	if err != nil {
		return err
	}
	defer cl.Close()
	defer cancel() // the connect timeout; producing may take longer
	p := &producer{e: e, cl: cl, enc: json.NewEncoder(e.stdout)}
	send := func(line string) {
		r := &kgo.Record{Value: []byte(line), Headers: headers, Partition: int32(*partition)}
		switch {
		case *key != "":
			r.Key = []byte(*key)
		case *keyDelim != "":
			if k, v, ok := strings.Cut(line, *keyDelim); ok {
				r.Key, r.Value = []byte(k), []byte(v)
			}
		}
		p.produce(e.ctx, r)
	}
	var readErr error
	if len(values) > 0 {
		for _, v := range values {
			send(v)
		}
	} else if err := eachLine(e.stdin, send); err != nil {
		readErr = fmt.Errorf("stdin: %w", err)
	}
	// What was read is produced even if stdin then failed.
	if err := cl.Flush(e.ctx); err != nil {
		return err
	}
	if readErr != nil {
		return readErr
	}
	if p.failed {
		return errReported
	}
	return nil
}

// producer prints each record's outcome as the broker acknowledges it.
type producer struct {
	e      *env
	cl     *kgo.Client
	enc    *json.Encoder
	mu     sync.Mutex // guards the output and failed
	failed bool
}

func (p *producer) produce(ctx context.Context, r *kgo.Record) {
	p.cl.Produce(ctx, r, func(r *kgo.Record, err error) {
		p.mu.Lock()
		defer p.mu.Unlock()
		res := produceResult{Topic: r.Topic, Partition: r.Partition, Offset: r.Offset}
		if err != nil {
			res.Error = err.Error()
			p.failed = true
			p.e.fail(fmt.Sprintf("record %q", truncate(string(r.Value))), err)
		}
		switch {
		case p.e.json:
			_ = p.enc.Encode(res) // a broken stdout shows as the process dying of SIGPIPE
		case err == nil:
			fmt.Fprintf(p.e.stdout, "produced to %s[%d] at offset %d\n", r.Topic, r.Partition, r.Offset)
		}
	})
}

// eachLine calls fn with each line of in, without its line end; a last
// line without one counts too.
func eachLine(in io.Reader, fn func(string)) error {
	br := bufio.NewReader(in)
	for {
		line, err := br.ReadString('\n')
		if line != "" {
			fn(strings.TrimSuffix(strings.TrimSuffix(line, "\n"), "\r"))
		}
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
	}
}

// truncate shortens a value for an error message.
func truncate(s string) string {
	const n = 40
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}
