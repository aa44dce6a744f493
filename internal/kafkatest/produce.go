package kafkatest

import (
	"context"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// ProduceWithin produces records one after another, each acknowledged
// before the next is sent, and returns their offsets; it gives up after d.
// franz-go retries an idempotent batch that timed out for ever (a delivery
// timeout cannot end a batch once sent), so a test waiting for
// acknowledgements bounds the wait here. After a timeout the producing
// goroutine ends when the caller closes cl.
func ProduceWithin(cl *kgo.Client, d time.Duration, records []*kgo.Record) ([]int64, error) {
	type result struct {
		offsets []int64
		err     error
	}
	done := make(chan result, 1)
	go func() {
		offsets := make([]int64, 0, len(records))
		for i, r := range records {
			res := cl.ProduceSync(context.Background(), r)
			if err := res.FirstErr(); err != nil {
				done <- result{offsets, fmt.Errorf("record %d: %w", i, err)}
				return
			}
			offsets = append(offsets, res[0].Record.Offset)
		}
		done <- result{offsets, nil}
	}()
	select {
	case r := <-done:
		return r.offsets, r.err
	case <-time.After(d):
		return nil, fmt.Errorf("%d records not all acknowledged in %v", len(records), d)
	}
}
