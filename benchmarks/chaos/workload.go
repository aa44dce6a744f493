package chaos

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/riffle/riffle/benchmarks/chaos/check"
	"github.com/riffle/riffle/benchmarks/driver/kafkadrv"
	"github.com/riffle/riffle/benchmarks/stats"
	"github.com/riffle/riffle/benchmarks/workload"
)

// ackTimes is one acknowledged send, for recovery and unavailability.
type ackTimes struct {
	partition   int32
	sent, acked time.Time
}

// recorder is the run's history, filled concurrently by the clients.
type recorder struct {
	rec *stats.Recorder

	mu        sync.Mutex
	hist      check.History
	times     []ackTimes
	errCodes  map[string]int64
	errSample map[string]string
}

func newRecorder(start time.Time) *recorder {
	return &recorder{rec: stats.NewRecorder(start, 0), errCodes: map[string]int64{}, errSample: map[string]string{}}
}

func (r *recorder) acked(a check.Ack, sent time.Time) {
	r.mu.Lock()
	r.hist.Acks = append(r.hist.Acks, a)
	r.times = append(r.times, ackTimes{a.Partition, sent, a.Time})
	r.mu.Unlock()
}

func (r *recorder) failed(err error) {
	code := errorCode(err)
	r.mu.Lock()
	r.errCodes[code]++
	if _, ok := r.errSample[code]; !ok {
		r.errSample[code] = err.Error()
	}
	r.mu.Unlock()
}

// errorCode names an error by its Kafka error code, or by its kind.
func errorCode(err error) string {
	var ke *kerr.Error
	switch {
	case errors.As(err, &ke):
		return ke.Message
	case errors.Is(err, kgo.ErrRecordTimeout):
		return "RECORD_DELIVERY_TIMEOUT (client)"
	case errors.Is(err, kgo.ErrRecordRetries):
		return "RECORD_RETRIES (client)"
	case errors.Is(err, context.Canceled), errors.Is(err, kgo.ErrClientClosed):
		return "ABORTED_AT_SHUTDOWN (client)"
	case errors.Is(err, context.DeadlineExceeded):
		return "DEADLINE (client)"
	default:
		return "OTHER (client)"
	}
}

// add changes the history under the lock.
func (r *recorder) add(f func(h *check.History)) {
	r.mu.Lock()
	f(&r.hist)
	r.mu.Unlock()
}

func (r *recorder) read(rd check.Read) {
	r.add(func(h *check.History) { h.Reads = append(h.Reads, rd) })
}

func (r *recorder) commit(c check.Commit) {
	r.add(func(h *check.History) { h.Commits = append(h.Commits, c) })
}

// workloadConfig is what the clients do.
type workloadConfig struct {
	topic, group string
	partitions   int
	producers    int
	rate         int // records/s over all producers
	// txnProducers transactional producers write to txnTopic, which a
	// read_committed reader reads from its start.
	txnTopic     string
	txnProducers int
}

// topics are the run's topics.
func (w workloadConfig) topics() []string {
	if w.txnProducers > 0 {
		return []string{w.topic, w.txnTopic}
	}
	return []string{w.topic}
}

// directReader names the reader of every partition from its start.
const directReader = "direct-0"

// clients are the running workload.
type clients struct {
	cfg       workloadConfig
	r         *recorder
	seeds     []string
	producers []*kgo.Client
	consumers []*kgo.Client
	cancel    context.CancelFunc // stops every loop
	// stopProduce stops only the producer loops: the readers go on
	// reading what the producers' last flush has acknowledged.
	stopProduce context.CancelFunc
	wg          sync.WaitGroup // the producer loops
	readers     sync.WaitGroup // the consumer loops and the commit observer
}

// producerScenario is the benchmark scenario the producers are built from:
// acks=all, idempotent, no linger, so every record is its own promise.
func producerScenario() *workload.Scenario {
	s := workload.Default()
	s.Acks = workload.AcksAll
	s.Idempotent = true
	s.Linger = 0
	return &s
}

// startClients starts the producers, the transactional producers, the
// group consumers, a direct reader, a read_committed reader and the commit
// observer.
func startClients(ctx context.Context, cfg workloadConfig, seeds []string, r *recorder, adm admin) (*clients, error) {
	nodes := len(seeds)
	ctx, cancel := context.WithCancel(ctx)
	pctx, stopProduce := context.WithCancel(ctx)
	c := &clients{cfg: cfg, r: r, seeds: seeds, cancel: cancel, stopProduce: stopProduce}
	sys, err := kafkadrv.New(seeds...)
	if err != nil {
		cancel()
		return nil, err
	}
	sys.Close()
	for i := range cfg.producers {
		cl, err := kgo.NewClient(append(sys.ProducerOpts(producerScenario()),
			kgo.RecordPartitioner(kgo.ManualPartitioner()),
			// A record not acknowledged within this fails with a client
			// error and is counted; it may still be in the log (that is
			// not an anomaly, only an acknowledged record that is missing is).
			kgo.RecordDeliveryTimeout(30*time.Second))...)
		if err != nil {
			c.close()
			return nil, fmt.Errorf("producer: %w", err)
		}
		c.producers = append(c.producers, cl)
		c.wg.Add(1)
		go func() { defer c.wg.Done(); c.produce(pctx, i, cl) }()
	}
	for i := range cfg.txnProducers {
		c.wg.Add(1)
		go func() { defer c.wg.Done(); c.transact(pctx, i) }()
	}
	for i := range 2 {
		if err := c.startGroupConsumer(ctx, i); err != nil {
			c.close()
			return nil, err
		}
	}
	direct, err := c.startDirectReader(ctx, directReader, c.cfg.topic, c.r.read)
	if err != nil {
		c.close()
		return nil, err
	}
	c.consumers = append(c.consumers, direct)
	if cfg.txnProducers > 0 {
		committed, err := c.startDirectReader(ctx, committedReader, c.cfg.txnTopic, c.r.txnRead,
			kgo.FetchIsolationLevel(kgo.ReadCommitted()))
		if err != nil {
			c.close()
			return nil, err
		}
		c.consumers = append(c.consumers, committed)
	}
	c.readers.Add(1)
	go func() { defer c.readers.Done(); c.observeCommits(ctx, adm, nodes) }()
	return c, nil
}

// produce sends at the producer's share of the rate, round-robin over the
// partitions, values unique per run ("p<producer>-<seq>").
func (c *clients) produce(ctx context.Context, idx int, cl *kgo.Client) {
	interval := time.Duration(float64(time.Second) * float64(c.cfg.producers) / float64(c.cfg.rate))
	start := time.Now()
	shard := c.r.rec.NewShard()
	for seq := 0; ; seq++ {
		due := start.Add(time.Duration(seq) * interval)
		if wait := time.Until(due); wait > 0 {
			select {
			case <-ctx.Done():
				return
			case <-time.After(wait):
			}
		}
		if ctx.Err() != nil {
			return
		}
		value := fmt.Sprintf("p%d-%08d", idx, seq)
		rec := &kgo.Record{Topic: c.cfg.topic, Partition: int32((seq + idx) % c.cfg.partitions), Value: []byte(value)}
		sent := time.Now()
		// Produce blocks while the client's buffer is full (a long
		// outage); the context ends that at shutdown.
		cl.Produce(ctx, rec, func(r *kgo.Record, err error) {
			now := time.Now()
			if err != nil {
				c.r.failed(err)
				c.r.rec.Error(stats.Produced, err)
				return
			}
			shard.Record(stats.Produced, due, now, len(r.Value))
			c.r.acked(check.Ack{Partition: r.Partition, Offset: r.Offset, Value: value, Time: now}, sent)
		})
	}
}

// startGroupConsumer starts a member of the run's group. Each partition
// it is assigned starts a new reading session (it begins at the committed
// offset, wherever that is).
func (c *clients) startGroupConsumer(ctx context.Context, idx int) error {
	var mu sync.Mutex
	sessions := map[int32]string{}
	n := 0
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.seeds...),
		kgo.ConsumerGroup(c.cfg.group), kgo.ConsumeTopics(c.cfg.topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.AutoCommitInterval(time.Second),
		kgo.OnPartitionsAssigned(func(_ context.Context, _ *kgo.Client, m map[string][]int32) {
			mu.Lock()
			defer mu.Unlock()
			n++
			for _, p := range m[c.cfg.topic] {
				sessions[p] = fmt.Sprintf("group-c%d-s%d", idx, n)
			}
		}),
		kgo.AutoCommitCallback(func(_ *kgo.Client, req *kmsg.OffsetCommitRequest, resp *kmsg.OffsetCommitResponse, err error) {
			if err != nil {
				return
			}
			now := time.Now()
			sent := map[int32]int64{}
			for _, t := range req.Topics {
				for _, p := range t.Partitions {
					sent[p.Partition] = p.Offset
				}
			}
			for _, t := range resp.Topics {
				for _, p := range t.Partitions {
					if p.ErrorCode == 0 {
						c.r.commit(check.Commit{Group: c.cfg.group, Partition: p.Partition, Offset: sent[p.Partition], Time: now, Source: "ack"})
					}
				}
			}
		}))
	if err != nil {
		return fmt.Errorf("group consumer: %w", err)
	}
	c.consumers = append(c.consumers, cl)
	c.readers.Add(1)
	go func() {
		defer c.readers.Done()
		c.poll(ctx, cl, func(p int32) check.Read {
			mu.Lock()
			defer mu.Unlock()
			return check.Read{Reader: sessions[p], Group: c.cfg.group, Partition: p}
		}, c.r.read)
	}()
	return nil
}

// startDirectReader reads every partition of topic from its start into
// sink.
func (c *clients) startDirectReader(ctx context.Context, name, topic string, sink func(check.Read), opts ...kgo.Opt) (*kgo.Client, error) {
	parts := map[int32]kgo.Offset{}
	for p := range c.cfg.partitions {
		parts[int32(p)] = kgo.NewOffset().AtStart()
	}
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(c.seeds...),
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: parts})}, opts...)...)
	if err != nil {
		return nil, fmt.Errorf("direct reader %s: %w", name, err)
	}
	c.readers.Add(1)
	go func() {
		defer c.readers.Done()
		c.poll(ctx, cl, func(p int32) check.Read { return check.Read{Reader: name, Direct: true, Partition: p} }, sink)
	}()
	return cl, nil
}

// poll records every record cl receives into sink; session names the
// reader of a partition.
func (c *clients) poll(ctx context.Context, cl *kgo.Client, session func(int32) check.Read, sink func(check.Read)) {
	shard := c.r.rec.NewShard()
	for ctx.Err() == nil {
		fs := cl.PollFetches(ctx)
		now := time.Now()
		fs.EachRecord(func(r *kgo.Record) {
			rd := session(r.Partition)
			rd.Offset, rd.Value, rd.Time = r.Offset, string(r.Value), now
			sink(rd)
			shard.Record(stats.Consumed, r.Timestamp, now, len(r.Value))
		})
	}
}

// observeCommits asks every node for the group's committed offsets every
// second (a node that is not the coordinator answers NOT_COORDINATOR); each
// answer is checked against every commit acknowledged before it was asked.
func (c *clients) observeCommits(ctx context.Context, adm admin, nodes int) {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		var wg sync.WaitGroup
		for id := int32(1); id <= int32(nodes); id++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				sent := time.Now()
				rctx, cancel := context.WithTimeout(ctx, 5*time.Second)
				offs, err := adm.committed(rctx, id, c.cfg.group, c.cfg.topic)
				cancel()
				if err != nil {
					return // not the coordinator, or unreachable now
				}
				for p, o := range offs {
					c.r.commit(check.Commit{Group: c.cfg.group, Partition: p, Offset: o, Time: sent, Source: fmt.Sprintf("fetch from node %d", id)})
				}
			}()
		}
		wg.Wait()
	}
}

// stopProducing stops the send loops and waits up to timeout for every
// record in flight to be acknowledged or failed.
func (c *clients) stopProducing(timeout time.Duration) {
	c.stopProduce()
	c.wg.Wait()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	for _, p := range c.producers {
		_ = p.Flush(ctx)
	}
}

// close stops every client; records still unacknowledged fail.
func (c *clients) close() {
	c.cancel()
	c.wg.Wait()
	for _, p := range c.producers {
		p.Close()
	}
	for _, cl := range c.consumers {
		cl.Close()
	}
	c.readers.Wait()
}

// readFinal reads every partition from its start up to its end offset
// with a fresh client, as the final log the checker compares against.
func readFinal(ctx context.Context, seeds []string, topic string, ends map[int32]int64) (map[int32][]check.Record, error) {
	parts := map[int32]kgo.Offset{}
	final := map[int32][]check.Record{}
	for p, end := range ends {
		final[p] = []check.Record{}
		if end > 0 {
			parts[p] = kgo.NewOffset().AtStart()
		}
	}
	if len(parts) == 0 {
		return final, nil
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(seeds...),
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: parts}))
	if err != nil {
		return nil, fmt.Errorf("final read: %w", err)
	}
	defer cl.Close()
	done := map[int32]bool{}
	for len(done) < len(parts) {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			return nil, fmt.Errorf("final read: %d of %d partitions read to their end: %w", len(done), len(parts), ctx.Err())
		}
		fs.EachRecord(func(r *kgo.Record) {
			if r.Offset < ends[r.Partition] {
				final[r.Partition] = append(final[r.Partition], check.Record{Offset: r.Offset, Value: string(r.Value)})
			}
			if r.Offset+1 >= ends[r.Partition] {
				done[r.Partition] = true
			}
		})
	}
	return final, nil
}
