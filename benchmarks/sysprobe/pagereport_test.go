package sysprobe

import (
	"context"
	"errors"
	"strconv"
	"testing"
	"time"
)

// waitCounterIdle against a counter and ticks the test drives: it returns
// at the first tick a quiet time after the last change, gives up at the
// limit while the counter moves, and passes a read error on.
func TestWaitCounterIdle(t *testing.T) {
	start := time.Unix(1000, 0)
	ms := func(n int) time.Time { return start.Add(time.Duration(n) * time.Millisecond) }
	cases := []struct {
		name   string
		values []int // the counter at start and at each tick
		ticks  int   // tick i (from 1) is at i*100 ms
		quiet  time.Duration
		limit  time.Duration
		waited time.Duration
		idle   bool
	}{
		{"idle from the start", []int{5, 5, 5, 5, 5}, 5, 300 * time.Millisecond, time.Minute, 300 * time.Millisecond, true},
		{"idle after the last change", []int{0, 1, 2, 3, 3, 3, 3, 3}, 8, 300 * time.Millisecond, time.Minute, 600 * time.Millisecond, true},
		{"still moving at the limit", []int{0, 1, 2, 3, 4, 5, 6, 7}, 8, 300 * time.Millisecond, 500 * time.Millisecond, 500 * time.Millisecond, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			reads := 0
			read := func() ([]byte, error) {
				v := c.values[min(reads, len(c.values)-1)]
				reads++
				return []byte(strconv.Itoa(v)), nil
			}
			ticks := make(chan time.Time, c.ticks)
			for i := 1; i <= c.ticks; i++ {
				ticks <- ms(100 * i)
			}
			waited, idle, err := waitCounterIdle(context.Background(), read, start, ticks, c.quiet, c.limit)
			if err != nil || idle != c.idle || waited != c.waited {
				t.Fatalf("waited %v, idle %v, err %v; want %v, %v", waited, idle, err, c.waited, c.idle)
			}
		})
	}
	failing := errors.New("read failed")
	ticks := make(chan time.Time, 1)
	ticks <- ms(100)
	reads := 0
	read := func() ([]byte, error) {
		if reads++; reads > 1 {
			return nil, failing
		}
		return []byte("0"), nil
	}
	if _, idle, err := waitCounterIdle(context.Background(), read, start, ticks, time.Second, time.Minute); !errors.Is(err, failing) || idle {
		t.Fatalf("read error: idle %v, err %v", idle, err)
	}
}
