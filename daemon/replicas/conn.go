package replicas

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"strconv"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/riffle/riffle/kafkawire"
)

// dialTimeout bounds a connection attempt to a leader.
const dialTimeout = 10 * time.Second

// leaderConn is a follower's connection to a leader's Kafka listener,
// carrying one request at a time. The bytes fields of a response (a
// Fetch's records) point into the connection's buffer: they are valid until
// the next call.
type leaderConn struct {
	c         net.Conn
	formatter *kmsg.RequestFormatter
	corrID    int32
	out       []byte
	frame     bytes.Buffer
	maxBytes  int
}

func dialLeader(ctx context.Context, host string, port int32, clientID string, maxBytes int) (*leaderConn, error) {
	addr := net.JoinHostPort(host, strconv.Itoa(int(port)))
	d := net.Dialer{Timeout: dialTimeout}
	c, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	return &leaderConn{c: c, formatter: kmsg.NewRequestFormatter(kmsg.FormatterClientID(clientID)), maxBytes: maxBytes}, nil
}

// call sends req and reads its response, within timeout or until ctx ends.
// After an error the connection is unusable.
func (c *leaderConn) call(ctx context.Context, req kmsg.Request, timeout time.Duration) (kmsg.Response, error) {
	name := kmsg.NameForKey(req.Key())
	c.corrID++
	c.out = c.formatter.AppendRequest(c.out[:0], req, c.corrID)
	if err := c.c.SetDeadline(time.Now().Add(timeout)); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	stop := context.AfterFunc(ctx, func() { c.c.SetDeadline(time.Now()) })
	defer stop()
	if _, err := c.c.Write(c.out); err != nil {
		return nil, fmt.Errorf("write %s: %w", name, err)
	}
	if err := kafkawire.ReadFrame(c.c, &c.frame, c.maxBytes); err != nil {
		return nil, fmt.Errorf("read %s response: %w", name, err)
	}
	return kafkawire.DecodeResponse(req, c.corrID, c.frame.Bytes())
}

func (c *leaderConn) close() { c.c.Close() }
