package e2e

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/riffle/riffle/internal/brokertest"
)

// bystander is a well-behaved franz-go client that produces (acks=all,
// idempotent) and consumes its own topic for as long as a hostile test
// runs beside it. Its worst round trip tells whether the broker kept
// serving others while it was being abused.
type bystander struct {
	topic  string
	cancel context.CancelFunc
	done   chan struct{}

	mu        sync.Mutex
	acked     int
	consumed  int
	worst     time.Duration // slowest produce acknowledgement
	lastError error
}

// startBystander creates a topic and starts producing a record every few
// milliseconds and reading them back. Stop it with check.
func startBystander(t *testing.T, addr string) *bystander {
	t.Helper()
	topic := "bystander-" + strings.ToLower(strings.NewReplacer("/", "-", "_", "-").Replace(t.Name()))
	admin := newClient(t, addr)
	createTopic(t, admin, topic, 1)
	producer := newClient(t, addr, kgo.RequiredAcks(kgo.AllISRAcks()), kgo.DefaultProduceTopic(topic),
		kgo.ProducerLinger(0))
	consumer := newClient(t, addr, kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.FetchMaxWait(100*time.Millisecond))
	ctx, cancel := context.WithCancel(context.Background())
	b := &bystander{topic: topic, cancel: cancel, done: make(chan struct{})}
	var wg sync.WaitGroup
	wg.Add(2)
	go func() {
		defer wg.Done()
		for i := 0; ctx.Err() == nil; i++ {
			start := time.Now()
			err := producer.ProduceSync(ctx, &kgo.Record{Value: []byte(strconv.Itoa(i))}).FirstErr()
			took := time.Since(start)
			b.mu.Lock()
			switch {
			case err == nil:
				b.acked++
				b.worst = max(b.worst, took)
			case ctx.Err() == nil:
				b.lastError = fmt.Errorf("produce: %w", err)
			}
			b.mu.Unlock()
			select {
			case <-ctx.Done():
			case <-time.After(5 * time.Millisecond):
			}
		}
	}()
	go func() {
		defer wg.Done()
		for ctx.Err() == nil {
			fs := consumer.PollFetches(ctx)
			b.mu.Lock()
			b.consumed += fs.NumRecords()
			fs.EachError(func(_ string, _ int32, err error) {
				if ctx.Err() == nil {
					b.lastError = fmt.Errorf("fetch: %w", err)
				}
			})
			b.mu.Unlock()
		}
	}()
	go func() { wg.Wait(); close(b.done) }()
	t.Cleanup(func() { cancel(); <-b.done })
	return b
}

// check stops the bystander and fails the test unless it made progress
// without errors and no produce took longer than worstAllowed. The bound is
// generous: it tells a broker that kept serving from one that stalled, on
// a loaded two-core machine.
func (b *bystander) check(t *testing.T, worstAllowed time.Duration) {
	t.Helper()
	b.cancel()
	<-b.done
	b.mu.Lock()
	defer b.mu.Unlock()
	t.Logf("bystander: %d acked, %d consumed, slowest ack %v", b.acked, b.consumed, b.worst)
	switch {
	case b.lastError != nil:
		t.Errorf("bystander: %v", b.lastError)
	case b.acked == 0 || b.consumed == 0:
		t.Errorf("bystander made no progress: %d acked, %d consumed", b.acked, b.consumed)
	case b.worst > worstAllowed:
		t.Errorf("bystander: slowest produce took %v, more than %v", b.worst, worstAllowed)
	}
}

// waitProgress waits until the bystander has read back n records.
func (b *bystander) waitProgress(t *testing.T, n int, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		got := b.consumedNow()
		if got >= n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("bystander read back %d records in %v, want %d", got, timeout, n)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// consumedNow is how many records the bystander has read back so far.
func (b *bystander) consumedNow() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.consumed
}

// procUsage is a process's CPU time and resident memory, read from /proc.
type procUsage struct {
	cpu      time.Duration // user + system
	rssBytes int64
}

func readProcUsage(t testing.TB, pid int) procUsage {
	t.Helper()
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		t.Fatal(err)
	}
	// Fields after the command name, which is in parentheses and may hold spaces.
	fields := strings.Fields(string(stat[strings.LastIndexByte(string(stat), ')')+2:]))
	utime, _ := strconv.ParseInt(fields[11], 10, 64)
	stime, _ := strconv.ParseInt(fields[12], 10, 64)
	rssPages, _ := strconv.ParseInt(fields[21], 10, 64)
	const clockTicksPerSecond = 100 // USER_HZ on Linux
	return procUsage{
		cpu:      time.Duration(utime+stime) * time.Second / clockTicksPerSecond,
		rssBytes: rssPages * int64(os.Getpagesize()),
	}
}

// brokerUsage is readProcUsage of a running test broker.
func brokerUsage(t testing.TB, b *brokertest.Broker) procUsage { return readProcUsage(t, b.PID()) }
