package driver

import (
	"context"
	"time"

	"github.com/riffle/riffle/benchmarks/stats"
	"github.com/riffle/riffle/benchmarks/workload"
)

// pacing is the send schedule shared by a run's producers.
type pacing struct {
	start    time.Time
	interval time.Duration // per producer; 0: as fast as possible
	end      time.Time     // zero: until the record limit
}

// producer is one producer client and its record generator.
type producer struct {
	client  Producer
	gen     *workload.Generator
	handler producerHandler
}

// run sends until the plan's end or limit records (-1: no limit) and
// returns how many were sent. A record due while the client is still
// busy keeps its due time as its stamp, so the wait counts as latency.
func (p *producer) run(ctx context.Context, plan pacing, limit int64) int64 {
	var sent int64
	for limit < 0 || sent < limit {
		due := time.Now()
		if plan.interval > 0 {
			due = plan.start.Add(time.Duration(sent) * plan.interval)
			if wait := time.Until(due); wait > 0 {
				// Sleep overshoots; the records that fall due meanwhile
				// are sent back to back with their own stamps.
				select {
				case <-ctx.Done():
					return sent
				case <-time.After(wait):
				}
			}
		}
		if !plan.end.IsZero() && !due.Before(plan.end) {
			return sent
		}
		if ctx.Err() != nil {
			return sent
		}
		if err := p.client.Send(ctx, p.gen.Key(), p.gen.Value(due)); err != nil {
			p.handler.Failed(err)
		}
		sent++
	}
	return sent
}

type producerHandler struct {
	rec   *stats.Recorder
	shard *stats.Shard
}

func (h *producerHandler) Acked(value []byte, at time.Time) {
	if due, ok := workload.StampOf(value); ok {
		h.shard.Record(stats.Produced, due, at, len(value))
	}
}

func (h *producerHandler) Failed(err error) { h.rec.Error(stats.Produced, err) }

type consumerHandler struct {
	rec   *stats.Recorder
	shard *stats.Shard
	// countOnly: the records were written before the run (consume-only),
	// so their stamps say nothing of this run's latency.
	countOnly bool
}

func (h *consumerHandler) Received(value []byte, at time.Time) {
	if h.countOnly {
		h.shard.Count(stats.Consumed, at, len(value))
		return
	}
	if due, ok := workload.StampOf(value); ok {
		h.shard.Record(stats.Consumed, due, at, len(value))
	}
}

func (h *consumerHandler) Failed(err error) { h.rec.Error(stats.Consumed, err) }
