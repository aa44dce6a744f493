package driver

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/riffle/riffle/benchmarks/procstat"
	"github.com/riffle/riffle/benchmarks/stats"
	"github.com/riffle/riffle/benchmarks/workload"
)

// ErrIncomplete marks a run whose consumers did not receive every
// acknowledged record within the drain timeout.
var ErrIncomplete = errors.New("consumers did not catch up")

// Config is one run of a scenario against a system.
type Config struct {
	Scenario workload.Scenario
	System   System
	// TopicPrefix names the run's topics: prefix-<unix ms>-<index>.
	TopicPrefix string
	// BrokerPID, if not 0, is the broker process whose CPU and memory
	// are measured over the run.
	BrokerPID int
	// Progress receives one line per second while the run lasts; nil for none.
	Progress io.Writer
}

// Result is the outcome of a run.
type Result struct {
	Topics  []string        `json:"topics"`
	Started time.Time       `json:"started"`
	Sent    int64           `json:"sent"`
	Summary stats.Summary   `json:"summary"`
	Broker  *procstat.Usage `json:"broker,omitempty"`
	// Client holds the client settings in force, as System.Settings reported.
	Client map[string]string `json:"client_settings"`
}

// Run runs cfg.Scenario once. Errors of individual records are counted in
// the summary; Run fails only if the run could not be set up, and reports
// ErrIncomplete (with a full Result) if consumers fell short.
func Run(ctx context.Context, cfg Config) (Result, error) {
	s := cfg.Scenario
	if err := s.Validate(); err != nil {
		return Result{}, err
	}
	topics := make([]string, s.Topics)
	id := time.Now().UnixMilli()
	for i := range topics {
		topics[i] = fmt.Sprintf("%s-%d-%d", cfg.TopicPrefix, id, i)
	}
	if err := cfg.System.CreateTopics(ctx, topics, &s); err != nil {
		return Result{}, fmt.Errorf("create topics: %w", err)
	}
	var sampler *procstat.Sampler
	if cfg.BrokerPID != 0 {
		var err error
		if sampler, err = procstat.Start(cfg.BrokerPID, 200*time.Millisecond); err != nil {
			return Result{}, fmt.Errorf("broker pid %d: %w", cfg.BrokerPID, err)
		}
		sampler.Begin()
	}

	r := &run{cfg: cfg, s: &s, topics: topics}
	defer r.closeAll()
	// What the run measures: records acknowledged, or in a consume-only
	// run records received.
	measured := stats.Produced
	var filled int64
	if s.ConsumeOnly {
		measured = stats.Consumed
		var err error
		if filled, err = r.prefill(ctx); err != nil {
			if sampler != nil {
				_, _ = sampler.End(0)
			}
			return Result{}, err
		}
	}
	rec := stats.NewRecorder(time.Now(), s.Warmup.Std())
	r.rec = rec
	if err := r.start(); err != nil {
		if sampler != nil {
			_, _ = sampler.End(0)
		}
		return Result{}, err
	}

	// The broker's CPU is measured from the end of the warm-up; cpuFrom is
	// written before began closes.
	var cpuFrom int64
	began := make(chan struct{})
	cpuBegin := time.AfterFunc(time.Until(rec.WarmEnd()), func() {
		defer close(began)
		cpuFrom = rec.Total(measured)
		if sampler != nil {
			sampler.Begin()
		}
	})
	stopProgress := r.progress()
	var sent int64
	var sendEnd time.Time
	var drainErr error
	if s.ConsumeOnly {
		sent = filled
		drainErr = r.awaitConsumers(ctx, filled)
		sendEnd = time.Now()
	} else {
		sent, sendEnd = r.produce(ctx)
		drainErr = r.drain(ctx)
	}
	stopProgress()

	res := Result{Topics: topics, Started: rec.Start(), Sent: sent, Client: cfg.System.Settings(&s)}
	// A run that ended within its warm-up counts CPU from its start.
	if !cpuBegin.Stop() {
		<-began
	}
	if sampler != nil {
		payload := (rec.Total(measured) - cpuFrom) * int64(s.RecordBytes)
		u, err := sampler.End(payload)
		if err != nil {
			return res, fmt.Errorf("broker usage: %w", err)
		}
		res.Broker = &u
	}
	res.Summary = rec.Summarize(sendEnd)
	return res, drainErr
}

// run is the state of one Run.
type run struct {
	cfg       Config
	s         *workload.Scenario
	rec       *stats.Recorder
	topics    []string
	producers []*producer
	consumers []Consumer
}

// start starts the consumers, then the producers (in a consume-only run
// prefill started those), reporting to r.rec.
func (r *run) start() error {
	for _, topic := range r.topics {
		for i := range r.s.ConsumersPerTopic {
			h := &consumerHandler{rec: r.rec, shard: r.rec.NewShard(), countOnly: r.s.ConsumeOnly}
			c, err := r.cfg.System.NewConsumer(topic, i, r.s.ConsumersPerTopic, r.s, h)
			if err != nil {
				return fmt.Errorf("consumer %d of %s: %w", i, topic, err)
			}
			r.consumers = append(r.consumers, c)
		}
	}
	if r.s.ConsumeOnly {
		return nil
	}
	return r.startProducers()
}

func (r *run) startProducers() error {
	for _, topic := range r.topics {
		for i := range r.s.ProducersPerTopic {
			p := &producer{handler: producerHandler{rec: r.rec, shard: r.rec.NewShard()}}
			var err error
			if p.client, err = r.cfg.System.NewProducer(topic, r.s, &p.handler); err != nil {
				return fmt.Errorf("producer %d of %s: %w", i, topic, err)
			}
			p.gen = workload.NewGenerator(r.s, uint64(len(r.producers)+1))
			r.producers = append(r.producers, p)
		}
	}
	return nil
}

// prefill writes a consume-only run's records, as fast as the producers
// go, and returns how many were acknowledged; nothing of it is measured.
func (r *run) prefill(ctx context.Context) (int64, error) {
	r.rec = stats.NewRecorder(time.Now(), 0)
	if err := r.startProducers(); err != nil {
		return 0, err
	}
	if r.cfg.Progress != nil {
		fmt.Fprintf(r.cfg.Progress, "prefill: writing %d records before measuring their reading\n", r.s.Records)
	}
	r.produce(ctx)
	ctx, cancel := context.WithTimeout(ctx, r.s.DrainTimeout.Std())
	defer cancel()
	for _, p := range r.producers {
		if err := p.client.Flush(ctx); err != nil {
			return 0, fmt.Errorf("prefill: flush: %w", err)
		}
	}
	if n := r.rec.Errors(stats.Produced); n > 0 {
		return 0, fmt.Errorf("prefill: %d records failed", n)
	}
	return r.rec.Total(stats.Produced), nil
}

func (r *run) closeAll() {
	for _, p := range r.producers {
		p.client.Close()
	}
	for _, c := range r.consumers {
		c.Close()
	}
}

// produce runs every producer until the scenario's end and returns the
// number of records handed to the clients and when the last one was.
func (r *run) produce(ctx context.Context) (int64, time.Time) {
	n := len(r.producers)
	plan := pacing{start: r.rec.Start()}
	if r.s.Rate > 0 {
		plan.interval = time.Duration(float64(time.Second) * float64(n) / float64(r.s.Rate))
	}
	if r.s.Duration > 0 {
		plan.end = r.rec.WarmEnd().Add(r.s.Duration.Std())
	}
	var wg sync.WaitGroup
	counts := make([]int64, n)
	for i, p := range r.producers {
		limit := int64(-1)
		if r.s.Records > 0 {
			limit = r.s.Records / int64(n)
			if int64(i) < r.s.Records%int64(n) {
				limit++
			}
		}
		wg.Go(func() { counts[i] = p.run(ctx, plan, limit) })
	}
	wg.Wait()
	end := time.Now()
	var total int64
	for _, c := range counts {
		total += c
	}
	return total, end
}

// drain waits for every acknowledgement, then for the consumers to
// receive every acknowledged record, each within the drain timeout.
func (r *run) drain(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, r.s.DrainTimeout.Std())
	defer cancel()
	for _, p := range r.producers {
		if err := p.client.Flush(ctx); err != nil {
			r.rec.Error(stats.Produced, fmt.Errorf("flush: %w", err))
		}
	}
	if r.s.ConsumersPerTopic == 0 || r.s.Acks == workload.AcksNone {
		return nil
	}
	return r.awaitConsumers(ctx, r.rec.Total(stats.Produced))
}

// awaitConsumers waits until the consumers have received want records, or
// ctx ends.
func (r *run) awaitConsumers(ctx context.Context, want int64) error {
	ctx, cancel := context.WithTimeout(ctx, r.s.DrainTimeout.Std())
	defer cancel()
	t := time.NewTicker(10 * time.Millisecond)
	defer t.Stop()
	for {
		got := r.rec.Total(stats.Consumed)
		if got >= want {
			return nil
		}
		select {
		case <-ctx.Done():
			err := fmt.Errorf("received %d of %d acknowledged records: %w", got, want, ErrIncomplete)
			r.rec.Error(stats.Consumed, err)
			return err
		case <-t.C:
		}
	}
}
