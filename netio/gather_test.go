package netio

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"
	"time"
)

// TestPipelinedResponsesShareASend: responses to requests a client
// pipelined, all waiting when the first is answered, leave in one sendmsg,
// in order; a lone request is answered at once, by a send of its own.
func TestPipelinedResponsesShareASend(t *testing.T) {
	const frames = 8
	var stream []byte
	var waiting int64 // bytes of frames 1..frames-1
	for i := range frames {
		payload := fmt.Appendf(nil, "frame %d", i)
		if i > 0 {
			waiting += int64(len(payload))
		}
		stream = append(stream, frameBytes(payload)...)
	}
	var server atomic.Pointer[Server]
	h := handlerFunc(func(ctx context.Context, c *Conn, frame []byte) ([]Piece, error) {
		if string(frame) == "frame 0" {
			deadline := time.Now().Add(10 * time.Second)
			for server.Load().Stats().RequestBytes < waiting {
				if time.Now().After(deadline) {
					return nil, errors.New("the pipelined frames were not read in 10 s")
				}
				time.Sleep(time.Millisecond)
			}
		}
		return echo(ctx, c, frame)
	})
	s := startServer(t, Config{}, h)
	server.Store(s)
	c := dial(t, s, 0)
	roundTrip(t, c, "alone")
	if got := s.Stats().Sends; got != 1 {
		t.Fatalf("a lone request took %d sends, want 1", got)
	}

	if _, err := c.Write(stream); err != nil {
		t.Fatal(err)
	}
	for i := range frames {
		if got, want := string(mustRecv(t, c)), fmt.Sprintf("re:frame %d", i); got != want {
			t.Fatalf("response %d is %q, want %q", i, got, want)
		}
	}
	if got := s.Stats().Sends; got != 2 {
		t.Errorf("%d pipelined responses took %d sends, want 1", frames, got-1)
	}
}
