// Package coordinator holds what the group and transaction coordinators
// wrap alike around their pure machines: the I/O and concurrency shell of
// a coordinator whose state lives in an internal topic.
package coordinator

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/riffle/riffle/internal/ids"
	"github.com/riffle/riffle/replica"
	"github.com/riffle/riffle/segment"
)

// ErrClosed answers a request that the coordinator dropped on closing.
var ErrClosed = errors.New("coordinator closed")

// Shell is one lock over a coordinator's machine and its shell, the
// requests waiting for the machine's replies, the generations of
// partition loads (a load finds whether it is still wanted), the
// goroutines that Close awaits, the creation of the internal topic, the
// timer and the waits for appends to reach the ISR. A coordinator embeds
// it, calls Init once, and holds Mu whenever it drives its machine;
// methods named Locked need it held.
type Shell[C ~uint64] struct {
	Mu       sync.Mutex // held whenever the machine is driven
	closed   bool
	nextCall C
	waiters  map[C]chan kmsg.Response
	loadGen  map[int32]uint64
	// creating is set while a goroutine creates the internal topic;
	// createTried is when the last attempt started.
	creating    bool
	createTried time.Time
	// stopping ends when Close begins: the shell's waits derive from it.
	stopping context.Context
	stop     context.CancelFunc
	wg       sync.WaitGroup
	settle   func()
}

// Init readies the shell. settle carries out the machine's actions; the
// shell calls it, under the lock, after each tick and each replicated
// append it reports.
func (s *Shell[C]) Init(settle func()) {
	s.settle = settle
	s.waiters = map[C]chan kmsg.Response{}
	s.loadGen = map[int32]uint64{}
	s.stopping, s.stop = context.WithCancel(context.Background())
}

// ClosedLocked reports whether Close has begun.
func (s *Shell[C]) ClosedLocked() bool { return s.closed }

// BeginCloseLocked marks the shell closed and ends the waits of its
// goroutines; false if it already was.
func (s *Shell[C]) BeginCloseLocked() bool {
	if s.closed {
		return false
	}
	s.closed = true
	s.stop()
	return true
}

// Wait returns once every goroutine started by Go has ended. Call it
// without the lock, after BeginCloseLocked.
func (s *Shell[C]) Wait() { s.wg.Wait() }

// Stopping is closed when Close begins.
func (s *Shell[C]) Stopping() <-chan struct{} { return s.stopping.Done() }

// Go runs fn on a goroutine that Close awaits.
func (s *Shell[C]) Go(fn func()) { s.wg.Go(fn) }

// RegisterLocked returns a new call id and the channel its reply comes on.
func (s *Shell[C]) RegisterLocked() (C, chan kmsg.Response) {
	s.nextCall++
	ch := make(chan kmsg.Response, 1)
	s.waiters[s.nextCall] = ch
	return s.nextCall, ch
}

// ReplyLocked hands resp to call's waiter, if it still waits.
func (s *Shell[C]) ReplyLocked(call C, resp kmsg.Response) {
	if ch, ok := s.waiters[call]; ok {
		delete(s.waiters, call)
		ch <- resp
	}
}

// DropWaitersLocked answers every waiting call ErrClosed.
func (s *Shell[C]) DropWaitersLocked() {
	for call, ch := range s.waiters {
		delete(s.waiters, call)
		close(ch)
	}
}

// Await returns call's reply, ErrClosed if it was dropped, or ctx's
// error if ctx ends first (the reply is then no longer wanted). Call it
// without the lock.
func (s *Shell[C]) Await(ctx context.Context, call C, ch chan kmsg.Response) (kmsg.Response, error) {
	select {
	case resp, ok := <-ch:
		if !ok {
			return nil, ErrClosed
		}
		return resp, nil
	case <-ctx.Done():
		s.Mu.Lock()
		delete(s.waiters, call)
		s.Mu.Unlock()
		return nil, ctx.Err()
	}
}

// StartLoadLocked begins a new generation of partition p's load and
// returns it; CancelLoadLocked ends the current one.
func (s *Shell[C]) StartLoadLocked(p int32) uint64 {
	s.loadGen[p]++
	return s.loadGen[p]
}

func (s *Shell[C]) CancelLoadLocked(p int32) { s.loadGen[p]++ }

// LoadGenLocked is partition p's current load generation;
// LoadCurrentLocked reports whether it is still gen (the partition was
// not dropped or reloaded since).
func (s *Shell[C]) LoadGenLocked(p int32) uint64 { return s.loadGen[p] }

func (s *Shell[C]) LoadCurrentLocked(p int32, gen uint64) bool { return s.loadGen[p] == gen }

// MaybeCreateLocked starts create on a goroutine of its own (it waits for
// the quorum) unless an attempt is under way or began less than a second
// ago: image changes and ticks call it until the topic exists. A failed
// attempt goes to failed.
func (s *Shell[C]) MaybeCreateLocked(create func() error, failed func(error)) {
	now := time.Now()
	if s.closed || s.creating || now.Sub(s.createTried) < time.Second {
		return
	}
	s.creating, s.createTried = true, now
	s.Go(func() {
		err := create()
		s.Mu.Lock()
		s.creating = false
		s.Mu.Unlock()
		if err != nil {
			failed(err)
		}
	})
}

// RunTicks calls tick, then settle, under the lock every interval until
// Close.
func (s *Shell[C]) RunTicks(interval time.Duration, tick func()) {
	s.Go(func() {
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			select {
			case <-s.stopping.Done():
				return
			case <-t.C:
				s.Mu.Lock()
				tick()
				s.settle()
				s.Mu.Unlock()
			}
		}
	})
}

// AppendLocked appends a coordinator's batch to p with append and has
// report told, under the lock, the append's error code once p's HW covers
// it (acks=all, as Kafka's coordinators append: a state acknowledged
// before that could vanish with its leader), then settle; or once the
// wait fails after timeout or on losing leadership; on Close nothing is
// reported. A failed append, or one that a single replica's HW covers at
// once, is reported before AppendLocked returns (the caller settles).
func (s *Shell[C]) AppendLocked(p *replica.Partition, append func() (replica.AppendResult, error), timeout time.Duration, report func(code int16)) error {
	res, err := append()
	if err != nil {
		report(AppendErrorCode(err))
		return err
	}
	required := ids.Offset(res.LastOffset + 1)
	if ids.Offset(p.HighWatermark()) >= required {
		report(0)
		return nil
	}
	s.Go(func() {
		code := int16(0)
		ctx, cancel := context.WithTimeout(s.stopping, timeout)
		defer cancel()
		if err := p.WaitReplicated(ctx, required); err != nil {
			code = AppendErrorCode(err)
		}
		s.Mu.Lock()
		defer s.Mu.Unlock()
		if !s.closed {
			report(code)
			s.settle()
		}
	})
	return nil
}

// AppendErrorCode is the Kafka error code of a coordinator's failed
// append or of a failed wait for its replication, before the machine maps
// it for the request. As in Kafka, losing the partition is
// NOT_COORDINATOR; too few replicas or a timeout,
// COORDINATOR_NOT_AVAILABLE.
func AppendErrorCode(err error) int16 {
	switch {
	case errors.Is(err, segment.ErrBatchTooLarge):
		return kerr.MessageTooLarge.Code
	case errors.Is(err, replica.ErrInvalidProducerEpoch):
		return kerr.InvalidProducerEpoch.Code
	case errors.Is(err, replica.ErrNotLeader), errors.Is(err, replica.ErrClosed), errors.Is(err, segment.ErrClosed):
		return kerr.NotCoordinator.Code
	}
	return kerr.CoordinatorNotAvailable.Code
}
