package quorum

// The cluster transport: one TCP listener per node (cluster.listen) that
// carries raft messages between voters and the controller calls of brokers.
//
// Wire format. Every connection opens with a 5-byte hello from the dialer:
// a kind byte and the dialer's node id (int32, big-endian). Without TLS
// nothing is authenticated: the cluster listener belongs on a private
// network. With TLS (cluster.tls) every connection is mutual TLS, both
// sides verifying the other's certificate, and the same frames run inside
// it; the hello's node id is still only declared.
//
//	'R' raft stream, one way (dialer -> listener): frames of a u32 length
//	    (big-endian, 1..MaxRaftFrameBytes) and a protobuf raftpb.Message.
//	    The dialer must be a voter; each message's From must be the dialer
//	    and its To this node. The listener never writes; the dialer reads
//	    only to notice that the connection died.
//	'K' Kafka calls: standard Kafka request frames (u32 size, request
//	    header v1/v2 with a correlation id and client id
//	    "riffle-node-<id>", kmsg body), each answered by a response frame
//	    (u32 size, correlation id, empty tag section if flexible, body)
//	    before the next request is read. Only the controller API keys
//	    (controllerAPIs) are accepted, frames up to MaxCallBytes.
//	'O' observer fetches (a broker that is not a voter following the
//	    metadata log): each request frame is a u32 length, the u64 raft
//	    index the observer wants next and its cluster id (the rest of the
//	    frame, empty when it has none yet); each response frame, sent
//	    before the next request is read, is a u32 length, the int32 id of
//	    the active controller as this voter knows it (-1: none), and a
//	    protobuf raftpb.Message (up to MaxRaftFrameBytes): MsgApp with the
//	    committed entries from that index (none when there are none yet)
//	    or MsgSnap with the snapshot when the index is before the voter's
//	    log; Term and Commit are the voter's; Reject with the voter's
//	    cluster id as Context when the observer's differs (Fetch,
//	    FetchFunc).
//
// Any violation (unknown kind or sender, oversized or undecodable frame, a
// message from or to the wrong node) closes the connection with a warning,
// rate-limited because a broken peer repeats it.

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"
	"go.etcd.io/raft/v3/raftpb"
	"golang.org/x/sys/unix"
	"google.golang.org/protobuf/proto"

	"github.com/riffle/riffle/kafkawire"
)

// Transport errors; they are wrapped with context, test them with errors.Is.
var (
	ErrTransportClosed = errors.New("cluster transport closed")
	ErrUnknownNode     = errors.New("unknown node")
)

// Connection kinds, the first byte of a connection's hello.
const (
	connRaft  byte = 'R'
	connCalls byte = 'K'
	connFetch byte = 'O'
	// tlsHandshakeRecord starts a TLS client's first bytes.
	tlsHandshakeRecord byte = 0x16
)

// controllerAPIs are the Kafka API keys served on the cluster listener.
var controllerAPIs = map[int16]bool{
	kmsg.CreateTopics.Int16():              true,
	kmsg.DeleteTopics.Int16():              true,
	kmsg.CreatePartitions.Int16():          true,
	kmsg.IncrementalAlterConfigs.Int16():   true,
	kmsg.AllocateProducerIDs.Int16():       true,
	kmsg.BrokerRegistration.Int16():        true,
	kmsg.BrokerHeartbeat.Int16():           true,
	kmsg.AlterPartition.Int16():            true,
	kmsg.AlterClientQuotas.Int16():         true,
	kmsg.CreateACLs.Int16():                true,
	kmsg.DeleteACLs.Int16():                true,
	kmsg.AlterUserSCRAMCredentials.Int16(): true,
	kmsg.ElectLeaders.Int16():              true,
	kmsg.AlterPartitionAssignments.Int16(): true,
}

const (
	helloBytes   = 5
	helloTimeout = 10 * time.Second
	dialTimeout  = 5 * time.Second
	// writeTimeout bounds one batch write; a 64 MiB snapshot needs about
	// 0.5 s at 1 Gbit/s.
	writeTimeout = 10 * time.Second
	backoffMin   = 50 * time.Millisecond
	backoffMax   = 2 * time.Second
	maxBatchMsgs = 64
	maxIdleCalls = 4
	badLogEvery  = time.Second
	// peerFailLogEvery: a peer that is down fails every backoffMax.
	peerFailLogEvery = 30 * time.Second
	keepBufBytes     = 1 << 20 // larger buffers are dropped after use, not kept per connection
	readBufBytes     = 64 << 10
	acceptBackoff    = 100 * time.Millisecond
)

// TransportConfig configures a Transport.
type TransportConfig struct {
	NodeID int32
	// Listen is the host:port to bind (cluster.listen); port 0 picks one.
	// Empty: no listener, for a broker that is not a voter and only calls.
	Listen string
	// Peers are the voters' cluster addresses by node id (cluster.voters).
	// This node may be among them; it is skipped.
	Peers map[int32]string
	// OnMessage receives each valid inbound raft message, in order per
	// sender, from the connection's goroutine. It must not block for long:
	// the sender's stream waits.
	OnMessage func(*raftpb.Message)
	// OnUnreachable is told that a message to a peer was dropped (queue
	// full, dial or write failed), as raft's ReportUnreachable wants. It is
	// called from Send's caller and from transport goroutines and must not
	// block. Optional.
	OnUnreachable func(node int32)
	// OnSnapshotStatus is told whether a MsgSnap to node was written to
	// its connection (ok) or dropped, as raft's ReportSnapshot wants: raft
	// stops replicating to a follower until its snapshot is reported.
	// Same calling rules as OnUnreachable. Optional.
	OnSnapshotStatus func(node int32, ok bool)
	// Handler serves controller calls from node from (the id the caller
	// declared). Nil refuses calls. An error closes the caller's connection.
	// ctx is done when the transport closes; Close waits for handlers.
	Handler func(ctx context.Context, from int32, req kmsg.Request) (kmsg.Response, error)
	// Fetch serves observer fetches (FetchFunc); nil refuses them. An
	// error closes the observer's connection.
	Fetch FetchFunc
	Log   *slog.Logger
	// QueueLen bounds each peer's outbound queue (messages); default 1024.
	QueueLen int
	// MaxRaftFrameBytes bounds one raft message (snapshots included);
	// default 64 MiB.
	MaxRaftFrameBytes int
	// MaxCallBytes bounds a controller request or response frame; default 1 MiB.
	MaxCallBytes int
	// ServerTLS, when set, makes the listener TLS only; it should require
	// and verify client certificates (auth.TLSSource.MutualConfig). A
	// handshake that fails closes the connection with a warning.
	ServerTLS *tls.Config
	// Dial connects to a peer's listener (auth.PeerDialer.Dial, which
	// completes a TLS handshake when TLS is on); nil is plain TCP.
	Dial func(ctx context.Context, network, addr string) (net.Conn, error)
}

// RaftID is the raft id of a node: raft reserves 0 (None) and Kafka node
// ids start at 0, so raft ids are node ids plus one.
func RaftID(node int32) uint64 { return uint64(node) + 1 }

// nodeOfRaftID is the node whose raft id is id (id > 0).
func nodeOfRaftID(id uint64) int32 { return int32(id - 1) }

// Transport is a node's cluster listener and its connections to peers.
// Send and Call are safe for concurrent use.
type Transport struct {
	cfg       TransportConfig
	log       *slog.Logger
	ln        net.Listener
	ctx       context.Context // done once Close starts
	cancel    context.CancelFunc
	peers     map[int32]*peer // fixed at start
	formatter *kmsg.RequestFormatter
	corrID    atomic.Int32
	badLog    logLimiter
	wg        sync.WaitGroup

	mu     sync.Mutex
	closed bool
	conns  map[net.Conn]struct{} // every open connection, closed by Close
}

// peer is a voter this node sends raft messages to and calls.
type peer struct {
	id    int32
	addr  string
	queue chan *raftpb.Message
	idle  map[byte][]net.Conn // call and fetch connections ready for reuse, by kind; guarded by Transport.mu
	// failLog limits the warnings about a peer that is down.
	failLog logLimiter
}

// NewTransport binds cfg.Listen and starts serving and the per-peer
// senders. The caller must Close it.
func NewTransport(cfg TransportConfig) (*Transport, error) {
	if cfg.NodeID < 0 {
		return nil, fmt.Errorf("quorum: transport: node id %d", cfg.NodeID)
	}
	if cfg.OnMessage == nil {
		return nil, errors.New("quorum: transport: no OnMessage")
	}
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	if cfg.QueueLen <= 0 {
		cfg.QueueLen = 1024
	}
	if cfg.MaxRaftFrameBytes <= 0 {
		cfg.MaxRaftFrameBytes = 64 << 20
	}
	if cfg.MaxCallBytes <= 0 {
		cfg.MaxCallBytes = 1 << 20
	}
	if cfg.Dial == nil {
		cfg.Dial = (&net.Dialer{}).DialContext
	}
	peers := make(map[int32]*peer, len(cfg.Peers))
	for id, addr := range cfg.Peers {
		if id < 0 {
			return nil, fmt.Errorf("quorum: transport: peer id %d", id)
		}
		if _, _, err := net.SplitHostPort(addr); err != nil {
			return nil, fmt.Errorf("quorum: transport: peer %d address %q: %w", id, addr, err)
		}
		if id != cfg.NodeID {
			peers[id] = &peer{
				id: id, addr: addr, queue: make(chan *raftpb.Message, cfg.QueueLen), idle: map[byte][]net.Conn{},
				failLog: logLimiter{every: peerFailLogEvery},
			}
		}
	}
	var ln net.Listener
	if cfg.Listen != "" {
		var err error
		if ln, err = net.Listen("tcp", cfg.Listen); err != nil {
			return nil, fmt.Errorf("quorum: transport: listen: %w", err)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	t := &Transport{
		cfg:       cfg,
		log:       cfg.Log.With("node", cfg.NodeID),
		ln:        ln,
		ctx:       ctx,
		cancel:    cancel,
		peers:     peers,
		formatter: kmsg.NewRequestFormatter(kmsg.FormatterClientID(fmt.Sprintf("riffle-node-%d", cfg.NodeID))),
		badLog:    logLimiter{every: badLogEvery},
		conns:     map[net.Conn]struct{}{},
	}
	if ln != nil {
		t.wg.Add(1)
		go t.acceptLoop()
	}
	t.wg.Add(len(peers))
	for _, p := range peers {
		go t.sendLoop(p)
	}
	return t, nil
}

// Addr returns the bound listener address, nil without a listener.
func (t *Transport) Addr() net.Addr {
	if t.ln == nil {
		return nil
	}
	return t.ln.Addr()
}

// Close stops the listener, closes every connection (in-flight Calls fail
// with ErrTransportClosed) and waits for the transport's goroutines.
// Queued messages are dropped.
func (t *Transport) Close() error {
	t.mu.Lock()
	if t.closed {
		t.mu.Unlock()
		return nil
	}
	t.closed = true
	conns := t.conns
	t.conns = nil
	t.mu.Unlock()
	t.cancel()
	var err error
	if t.ln != nil {
		err = t.ln.Close()
	}
	for c := range conns {
		c.Close()
	}
	t.wg.Wait()
	return err
}

// track registers c to be closed by Close; false means the transport is
// closed, and c was closed.
func (t *Transport) track(c net.Conn) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		c.Close()
		return false
	}
	t.conns[c] = struct{}{}
	return true
}

// drop closes c and forgets it.
func (t *Transport) drop(c net.Conn) {
	t.mu.Lock()
	delete(t.conns, c)
	t.mu.Unlock()
	c.Close()
}

// Send queues raft messages for their peers and never blocks. The
// transport owns the messages from then on. A message for a peer whose
// queue is full is dropped and the peer reported unreachable; raft
// retransmits. Messages to unknown nodes are dropped.
func (t *Transport) Send(msgs []*raftpb.Message) {
	if t.ctx.Err() != nil {
		return
	}
	for _, m := range msgs {
		p := t.peerOfRaftID(m.GetTo())
		if p == nil {
			t.warnBad("raft message to an unknown node dropped", "to", m.GetTo(), "type", m.GetType())
			continue
		}
		select {
		case p.queue <- m:
		default:
			t.dropped(p.id, m)
		}
	}
}

func (t *Transport) peerOfRaftID(id uint64) *peer {
	if id == 0 || id > RaftID(1<<31-1) {
		return nil
	}
	return t.peers[int32(id-1)]
}

// dropped reports messages to node id as lost: the peer unreachable, and
// each snapshot among them failed.
func (t *Transport) dropped(id int32, msgs ...*raftpb.Message) {
	if t.cfg.OnUnreachable != nil {
		t.cfg.OnUnreachable(id)
	}
	t.snapshotStatus(id, false, msgs)
}

func (t *Transport) snapshotStatus(id int32, ok bool, msgs []*raftpb.Message) {
	if t.cfg.OnSnapshotStatus == nil {
		return
	}
	for _, m := range msgs {
		if m.GetType() == raftpb.MessageType_MsgSnap {
			t.cfg.OnSnapshotStatus(id, ok)
		}
	}
}

// sendLoop is p's one outbound goroutine: it dials lazily, writes queued
// messages in batches, and on failure drops what it holds, reports p
// unreachable and redials after a capped exponential backoff.
func (t *Transport) sendLoop(p *peer) {
	defer t.wg.Done()
	var (
		conn    net.Conn
		buf     []byte
		batch   = make([]*raftpb.Message, 0, maxBatchMsgs)
		backoff time.Duration
		retryAt time.Time
	)
	fail := func(err error) {
		if t.ctx.Err() != nil {
			return // closing: the connection was closed under the write
		}
		if n, ok := p.failLog.allow(time.Now()); ok {
			t.log.Warn("quorum: raft stream to peer failed", "peer", p.id, "addr", p.addr, "err", err, "suppressed", n)
		}
		if conn != nil {
			t.drop(conn)
			conn = nil
		}
		backoff = min(max(2*backoff, backoffMin), backoffMax)
		retryAt = time.Now().Add(backoff)
		t.dropped(p.id, batch...)
	}
	for {
		select {
		case <-t.ctx.Done():
			return
		case m := <-p.queue:
			batch = append(batch[:0], m)
		}
	more:
		for len(batch) < maxBatchMsgs {
			select {
			case m := <-p.queue:
				batch = append(batch, m)
			default:
				break more
			}
		}
		if conn == nil {
			if wait := time.Until(retryAt); wait > 0 {
				select {
				case <-t.ctx.Done():
					return
				case <-time.After(wait):
				}
			}
			c, err := t.dial(t.ctx, p, connRaft)
			if err != nil {
				fail(err)
				continue
			}
			if backoff > 0 {
				t.log.Info("quorum: raft stream to peer reconnected", "peer", p.id, "addr", p.addr)
			}
			conn = c
			t.wg.Add(1)
			go t.watchRaftConn(c)
		}
		buf, batch = t.encodeBatch(buf[:0], p, batch)
		if err := conn.SetWriteDeadline(time.Now().Add(writeTimeout)); err != nil {
			fail(err)
			continue
		}
		if _, err := conn.Write(buf); err != nil {
			fail(err)
			continue
		}
		backoff = 0
		t.snapshotStatus(p.id, true, batch)
		if cap(buf) > keepBufBytes {
			buf = nil
		}
		clear(batch[:cap(batch)]) // a snapshot must not stay referenced
	}
}

// encodeBatch appends the frames of batch to buf and returns the messages
// framed. A message that cannot be framed is dropped with an error log:
// it is a local bug or a snapshot over the frame limit.
func (t *Transport) encodeBatch(buf []byte, p *peer, batch []*raftpb.Message) ([]byte, []*raftpb.Message) {
	kept := batch[:0]
	for _, m := range batch {
		size := proto.Size(m)
		if size == 0 || size > t.cfg.MaxRaftFrameBytes {
			t.log.Error("quorum: raft message cannot be framed", "peer", p.id, "type", m.GetType(), "bytes", size, "max", t.cfg.MaxRaftFrameBytes)
			t.dropped(p.id, m)
			continue
		}
		start := len(buf)
		buf = binary.BigEndian.AppendUint32(buf, uint32(size))
		var err error
		if buf, err = (proto.MarshalOptions{}).MarshalAppend(buf, m); err != nil || len(buf)-start-4 != size {
			t.log.Error("quorum: marshal raft message", "peer", p.id, "type", m.GetType(), "err", err)
			buf = buf[:start]
			t.dropped(p.id, m)
			continue
		}
		kept = append(kept, m)
	}
	return buf, kept
}

// watchRaftConn reads an outbound raft stream, on which the peer never
// writes, so that a peer's close or restart closes the connection at once
// and the next write redials instead of vanishing into a dead socket.
func (t *Transport) watchRaftConn(c net.Conn) {
	defer t.wg.Done()
	var b [1]byte
	c.Read(b[:])
	t.drop(c)
}

// dial connects to p and sends the hello for kind.
func (t *Transport) dial(ctx context.Context, p *peer, kind byte) (net.Conn, error) {
	dctx, cancel := context.WithTimeout(ctx, dialTimeout)
	c, err := t.cfg.Dial(dctx, "tcp", p.addr)
	cancel()
	if err != nil {
		return nil, fmt.Errorf("dial node %d at %s: %w", p.id, p.addr, err)
	}
	if !t.track(c) {
		return nil, ErrTransportClosed
	}
	hello := binary.BigEndian.AppendUint32([]byte{kind}, uint32(t.cfg.NodeID))
	c.SetWriteDeadline(time.Now().Add(dialTimeout))
	if _, err := c.Write(hello); err != nil {
		t.drop(c)
		return nil, fmt.Errorf("hello to node %d at %s: %w", p.id, p.addr, err)
	}
	// Calls are bounded by their context, not by the hello's deadline.
	c.SetWriteDeadline(time.Time{})
	return c, nil
}

func (t *Transport) acceptLoop() {
	defer t.wg.Done()
	for {
		c, err := t.ln.Accept()
		if err != nil {
			if t.ctx.Err() != nil {
				return
			}
			// Out of descriptors or similar: wait rather than spin.
			t.warnBad("quorum: cluster accept", "err", err)
			select {
			case <-t.ctx.Done():
				return
			case <-time.After(acceptBackoff):
			}
			continue
		}
		if !t.track(c) {
			return
		}
		t.wg.Add(1)
		go t.serveConn(c)
	}
}

// serveConn reads the hello of an accepted connection and serves it.
func (t *Transport) serveConn(c net.Conn) {
	defer t.wg.Done()
	defer t.drop(c)
	c.SetDeadline(time.Now().Add(helloTimeout))
	if t.cfg.ServerTLS != nil {
		tc := tls.Server(c, t.cfg.ServerTLS)
		if err := tc.Handshake(); err != nil {
			t.warnBad("quorum: cluster TLS handshake failed (is cluster.tls on at the peer, and its certificate from security.ssl_ca_file's CA?)",
				"remote", c.RemoteAddr(), "err", err)
			return
		}
		c = tc // Close closes the underlying connection, tracked
	}
	r := bufio.NewReaderSize(c, readBufBytes)
	var hello [helloBytes]byte
	if _, err := io.ReadFull(r, hello[:]); err != nil {
		t.warnBad("quorum: cluster connection without hello", "remote", c.RemoteAddr(), "err", err)
		return
	}
	c.SetDeadline(time.Time{})
	from := int32(binary.BigEndian.Uint32(hello[1:]))
	var err error
	switch kind := hello[0]; {
	case kind == connRaft && t.peers[from] != nil:
		err = t.serveRaft(r, from)
	case kind == connCalls && from >= 0 && t.cfg.Handler != nil:
		err = t.serveCalls(c, r, from)
	case kind == connFetch && from >= 0 && t.cfg.Fetch != nil:
		err = t.serveFetches(c, r, from)
	case kind == tlsHandshakeRecord && t.cfg.ServerTLS == nil:
		err = errors.New("a TLS handshake on a plaintext cluster listener: turn cluster.tls on at every node or none")
	default:
		err = fmt.Errorf("refused hello kind %q from node %d", kind, from)
	}
	if err != nil && t.ctx.Err() == nil {
		t.warnBad("quorum: cluster connection closed", "remote", c.RemoteAddr(), "from", from, "err", err)
	}
}

// serveRaft hands the messages of a raft stream from node from to
// OnMessage until the stream ends or breaks a rule.
func (t *Transport) serveRaft(r *bufio.Reader, from int32) error {
	return serveFrames(r, t.cfg.MaxRaftFrameBytes, func(frame []byte) error {
		m := &raftpb.Message{}
		if err := proto.Unmarshal(frame, m); err != nil {
			return fmt.Errorf("raft frame of %d bytes: %w", len(frame), err)
		}
		if m.GetFrom() != RaftID(from) || m.GetTo() != RaftID(t.cfg.NodeID) {
			return fmt.Errorf("raft %s from %d to %d on the stream of node %d", m.GetType(), m.GetFrom(), m.GetTo(), from)
		}
		t.cfg.OnMessage(m)
		return nil
	})
}

// serveCalls answers the controller requests of node from, one at a time.
func (t *Transport) serveCalls(c net.Conn, r *bufio.Reader, from int32) error {
	return serveFrames(r, t.cfg.MaxCallBytes, func(frame []byte) error {
		h, rest, err := kafkawire.ParseRequestHeaderPrefix(frame)
		if err != nil {
			return err
		}
		if !controllerAPIs[h.APIKey] {
			return fmt.Errorf("%w: api key %d is not a controller api", kafkawire.ErrMalformed, h.APIKey)
		}
		// Any version kmsg decodes is served: callers are this binary.
		if maxV := kmsg.RequestForKey(h.APIKey).MaxVersion(); h.APIVersion < 0 || h.APIVersion > maxV {
			return fmt.Errorf("%w: %s v%d (max v%d)", kafkawire.ErrMalformed, kmsg.NameForKey(h.APIKey), h.APIVersion, maxV)
		}
		req, err := kafkawire.DecodeRequestBody(h, rest)
		if err != nil {
			return err
		}
		resp, err := t.cfg.Handler(t.ctx, from, req)
		if err != nil {
			return fmt.Errorf("%s: %w", kmsg.NameForKey(h.APIKey), err)
		}
		if resp == nil || resp.Key() != h.APIKey {
			return fmt.Errorf("%s: handler answered %T", kmsg.NameForKey(h.APIKey), resp)
		}
		resp.SetVersion(h.APIVersion)
		out := kafkawire.AppendResponseHeader(make([]byte, 4, 256), h, resp.IsFlexible())
		out = resp.AppendTo(out)
		binary.BigEndian.PutUint32(out, uint32(len(out)-4))
		c.SetWriteDeadline(time.Now().Add(writeTimeout))
		if _, err := c.Write(out); err != nil {
			return fmt.Errorf("write %s response: %w", kmsg.NameForKey(h.APIKey), err)
		}
		return nil
	})
}

// FetchFunc answers observer from's fetch from raft index index, the
// observer being of cluster clusterID ("" before it knows): the active
// controller as this node knows it (-1: none) and the message the 'O'
// kind carries. It may wait a little for new entries; ctx is done when
// the transport closes.
type FetchFunc func(ctx context.Context, from int32, index uint64, clusterID string) (lead int32, m *raftpb.Message, err error)

// A fetch request's body: the index, then the cluster id of at most
// clusterIDBytesMax bytes.
const (
	fetchIndexBytes   = 8
	clusterIDBytesMax = 64
)

// serveFetches answers the fetches of observer from, one at a time.
func (t *Transport) serveFetches(c net.Conn, r *bufio.Reader, from int32) error {
	return serveFrames(r, fetchIndexBytes+clusterIDBytesMax, func(frame []byte) error {
		if len(frame) < fetchIndexBytes {
			return fmt.Errorf("%w: fetch request of %d bytes", kafkawire.ErrMalformed, len(frame))
		}
		lead, m, err := t.cfg.Fetch(t.ctx, from, binary.BigEndian.Uint64(frame), string(frame[fetchIndexBytes:]))
		if err != nil {
			return fmt.Errorf("fetch: %w", err)
		}
		size := proto.Size(m)
		if 4+size > t.cfg.MaxRaftFrameBytes {
			return fmt.Errorf("fetch response of %d bytes (max %d)", 4+size, t.cfg.MaxRaftFrameBytes)
		}
		out := binary.BigEndian.AppendUint32(make([]byte, 0, 8+size), uint32(4+size))
		out = binary.BigEndian.AppendUint32(out, uint32(lead))
		if out, err = (proto.MarshalOptions{}).MarshalAppend(out, m); err != nil {
			return fmt.Errorf("marshal fetch response: %w", err)
		}
		c.SetWriteDeadline(time.Now().Add(writeTimeout))
		if _, err := c.Write(out); err != nil {
			return fmt.Errorf("write fetch response: %w", err)
		}
		return nil
	})
}

// serveFrames reads frames of at most maxBytes and hands each to serve
// until the stream ends between frames (nil) or an error. The frame is
// valid only during the call.
func serveFrames(r io.Reader, maxBytes int, serve func(frame []byte) error) error {
	var frame bytes.Buffer
	for {
		if err := kafkawire.ReadFrame(r, &frame, maxBytes); err != nil {
			if errors.Is(err, io.EOF) {
				return nil
			}
			return err
		}
		if err := serve(frame.Bytes()); err != nil {
			return err
		}
		if frame.Cap() > keepBufBytes {
			frame = bytes.Buffer{}
		}
	}
}

// Call sends a controller request to node to and waits for its response,
// or for ctx. The request's version is the caller's (req.SetVersion). A
// failed call may or may not have been served (the connection may break
// after the request was read); callers retry. A call on an idle
// connection that the peer closed meanwhile (it restarted) fails too.
func (t *Transport) Call(ctx context.Context, to int32, req kmsg.Request) (kmsg.Response, error) {
	name := kmsg.NameForKey(req.Key())
	corrID := t.corrID.Add(1)
	out := t.formatter.AppendRequest(nil, req, corrID)
	if len(out)-4 > t.cfg.MaxCallBytes {
		return nil, fmt.Errorf("quorum: call %s to node %d: request of %d bytes (max %d)", name, to, len(out)-4, t.cfg.MaxCallBytes)
	}
	var resp kmsg.Response
	err := t.exchange(ctx, to, connCalls, name, out, t.cfg.MaxCallBytes, func(frame []byte) (err error) {
		resp, err = kafkawire.DecodeResponse(req, corrID, frame)
		return err
	})
	return resp, err
}

// Fetch asks voter to for the committed metadata log from raft index
// index on, as an observer of cluster clusterID ("" before it knows; the
// 'O' kind): it returns the active controller that voter knows (-1: none)
// and its answer. Failures are as Call's; a fetch changes nothing, so
// callers simply retry.
func (t *Transport) Fetch(ctx context.Context, to int32, index uint64, clusterID string) (lead int32, m *raftpb.Message, err error) {
	if len(clusterID) > clusterIDBytesMax {
		return -1, nil, fmt.Errorf("quorum: fetch: cluster id of %d bytes (max %d)", len(clusterID), clusterIDBytesMax)
	}
	out := binary.BigEndian.AppendUint32(nil, uint32(fetchIndexBytes+len(clusterID)))
	out = append(binary.BigEndian.AppendUint64(out, index), clusterID...)
	err = t.exchange(ctx, to, connFetch, "observer fetch", out, t.cfg.MaxRaftFrameBytes, func(frame []byte) error {
		if len(frame) < 4 {
			return fmt.Errorf("fetch response of %d bytes", len(frame))
		}
		lead = int32(binary.BigEndian.Uint32(frame))
		m = &raftpb.Message{}
		return proto.Unmarshal(frame[4:], m)
	})
	return lead, m, err
}

// exchange writes the request frame out to node to on a connection of
// kind and hands the response frame (at most maxResp bytes) to read.
func (t *Transport) exchange(ctx context.Context, to int32, kind byte, name string, out []byte, maxResp int, read func(frame []byte) error) error {
	p := t.peers[to]
	if p == nil {
		return fmt.Errorf("quorum: call %s to node %d: %w", name, to, ErrUnknownNode)
	}
	c, err := t.callConn(ctx, p, kind)
	if err != nil {
		return t.callErr(ctx, name, to, err)
	}
	// Cancelling ctx (or Close, which closes c) unblocks the I/O below.
	stop := context.AfterFunc(ctx, func() { c.SetDeadline(time.Now()) })
	err = writeRead(c, out, maxResp, read)
	if err != nil {
		t.drop(c)
		return t.callErr(ctx, name, to, err)
	}
	if stop() {
		t.putIdle(p, kind, c)
	} else {
		t.drop(c) // its deadline was set to the past
	}
	return nil
}

func writeRead(c net.Conn, out []byte, maxResp int, read func(frame []byte) error) error {
	if _, err := c.Write(out); err != nil {
		return fmt.Errorf("write request: %w", err)
	}
	var frame bytes.Buffer
	if err := kafkawire.ReadFrame(c, &frame, maxResp); err != nil {
		return fmt.Errorf("read response: %w", err)
	}
	return read(frame.Bytes())
}

// callErr wraps a failed call's error, naming the cause the caller can act
// on: its own context, or the transport closing.
func (t *Transport) callErr(ctx context.Context, name string, to int32, err error) error {
	switch {
	case ctx.Err() != nil:
		err = fmt.Errorf("%w (%v)", ctx.Err(), err)
	case t.ctx.Err() != nil:
		err = fmt.Errorf("%w (%v)", ErrTransportClosed, err)
	}
	return fmt.Errorf("quorum: call %s to node %d: %w", name, to, err)
}

// callConn takes an idle connection of kind to p that is still open, or
// dials one.
func (t *Transport) callConn(ctx context.Context, p *peer, kind byte) (net.Conn, error) {
	for {
		t.mu.Lock()
		if t.closed {
			t.mu.Unlock()
			return nil, ErrTransportClosed
		}
		idle := p.idle[kind]
		n := len(idle)
		if n == 0 {
			t.mu.Unlock()
			return t.dial(ctx, p, kind)
		}
		c := idle[n-1]
		p.idle[kind] = idle[:n-1]
		t.mu.Unlock()
		if stillOpen(c) {
			return c, nil
		}
		t.drop(c)
	}
}

// stillOpen reports whether the peer has neither closed idle connection c
// nor written on it (it never writes unasked), so that a call after the
// peer restarted dials instead of failing on the old connection.
func stillOpen(c net.Conn) bool {
	if tc, ok := c.(*tls.Conn); ok {
		// The server sends no session tickets (MutualConfig), so a peer
		// writes nothing unasked here either.
		c = tc.NetConn()
	}
	sc, ok := c.(syscall.Conn)
	if !ok {
		return true
	}
	raw, err := sc.SyscallConn()
	if err != nil {
		return false
	}
	open := false
	err = raw.Read(func(fd uintptr) bool {
		var b [1]byte
		_, _, rerr := unix.Recvfrom(int(fd), b[:], unix.MSG_PEEK|unix.MSG_DONTWAIT)
		open = rerr == unix.EAGAIN
		return true // never wait for readability
	})
	return err == nil && open
}

// putIdle keeps c for p's next exchange of kind, or closes it if enough
// are kept.
func (t *Transport) putIdle(p *peer, kind byte, c net.Conn) {
	t.mu.Lock()
	if !t.closed && len(p.idle[kind]) < maxIdleCalls {
		p.idle[kind] = append(p.idle[kind], c)
		t.mu.Unlock()
		return
	}
	t.mu.Unlock()
	t.drop(c)
}

// warnBad logs a peer's misbehaviour at most once per badLogEvery, with the
// count of lines suppressed since the last one.
func (t *Transport) warnBad(msg string, args ...any) {
	if n, ok := t.badLog.allow(time.Now()); ok {
		t.log.Warn(msg, append(args, "suppressed", n)...)
	}
}

// logLimiter lets one line through per every.
type logLimiter struct {
	every      time.Duration
	mu         sync.Mutex
	next       time.Time
	suppressed int
}

func (l *logLimiter) allow(now time.Time) (suppressed int, ok bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if now.Before(l.next) {
		l.suppressed++
		return 0, false
	}
	l.next = now.Add(l.every)
	suppressed, l.suppressed = l.suppressed, 0
	return suppressed, true
}
