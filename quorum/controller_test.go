package quorum

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"reflect"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/riffle/riffle/segment"
	"github.com/riffle/riffle/segment/vfs"
)

var self = Broker{ID: 1, Host: "127.0.0.1", Port: 9092}

// node is one broker's storage: a data dir on fs at dir.
type node struct {
	t   *testing.T
	fs  vfs.FS
	dir string
}

func newNode(t *testing.T) *node {
	return &node{t: t, fs: vfs.OS, dir: t.TempDir()}
}

// open opens the data dir and a controller on its metadata log, as the
// daemon does. stop closes both (once); cleanup calls it too.
func (n *node) open(b Broker) (ctrl *Controller, stop func()) {
	n.t.Helper()
	ctrl, closeAll, err := n.tryOpen(b)
	if err != nil {
		n.t.Fatal(err)
	}
	var once sync.Once
	stop = func() {
		once.Do(func() {
			if err := closeAll(); err != nil {
				n.t.Error(err)
			}
		})
	}
	n.t.Cleanup(stop)
	return ctrl, stop
}

func (n *node) tryOpen(b Broker) (*Controller, func() error, error) {
	opts := segment.Options{FS: n.fs, Logger: quietLogger()}
	cfg := MetadataLogConfig(segment.DefaultConfig())
	dd, err := segment.OpenDataDir(n.dir, func(string) segment.Config { return cfg }, opts)
	if err != nil {
		return nil, nil, err
	}
	mlog, err := dd.CreateLog(MetadataTopic, 0, cfg)
	if err != nil {
		return nil, nil, errors.Join(err, dd.Close())
	}
	ctrl, err := Open(mlog, Options{NodeID: b.ID, Broker: b, ValidateTopicConfig: ValidateTopicConfig, Logger: quietLogger()})
	if err != nil {
		return nil, nil, errors.Join(err, dd.Close())
	}
	return ctrl, func() error { return errors.Join(ctrl.Close(), dd.Close()) }, nil
}

// newMemNode is a node on a memory filesystem whose data dir survives a
// crash (the data dir is the operator's to create; segment makes what is
// inside it durable).
func newMemNode(t *testing.T) (*node, *vfs.MemFS) {
	mem := vfs.NewMemFS()
	if err := mem.MkdirAll("data", 0o755); err != nil {
		t.Fatal(err)
	}
	if err := mem.SyncDir("/"); err != nil {
		t.Fatal(err)
	}
	return &node{t: t, fs: mem, dir: "data"}, mem
}

func quietLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func strp(s string) *string { return &s }

// changeAll runs one of each change against ctrl.
func changeAll(t *testing.T, ctrl *Controller) {
	t.Helper()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	_, err := ctrl.CreateTopic(CreateTopic{Name: "orders", Partitions: 3, ReplicationFactor: 1,
		Configs: map[string]string{"retention.ms": "1000"}}, 1, 1, false)
	must(err)
	_, err = ctrl.CreateTopic(CreateTopic{Name: "gone", Partitions: -1, ReplicationFactor: -1}, 2, 1, false)
	must(err)
	_, err = ctrl.CreateTopic(CreateTopic{Name: "__consumer_offsets", Partitions: 5, ReplicationFactor: 1,
		Configs: map[string]string{"cleanup.policy": "compact"}, Internal: true}, 1, 1, false)
	must(err)
	must(ctrl.CreatePartitions("orders", 6, false))
	must(ctrl.AlterTopicConfigs("orders", map[string]*string{"retention.ms": nil, "segment.ms": strp("60000")}, false))
	must(ctrl.DeleteTopic("gone"))
	_, err = ctrl.AllocateProducerIDs(1)
	must(err)
}

// sameState reports whether a and b hold the same metadata; what the last
// change touched is no part of it.
func sameState(a, b *Image) bool {
	x, y := *a, *b
	x.TopicsChanged, y.TopicsChanged = nil, nil
	return reflect.DeepEqual(x, y)
}

func TestControllerRestartRebuildsImage(t *testing.T) {
	n := newNode(t)
	ctrl, stop := n.open(self)
	first := ctrl.Image()
	if first.ClusterID == "" || len(first.Brokers) != 1 || first.Brokers[0].Host != self.Host || first.ControllerID != 1 {
		t.Fatalf("first start: %s", formatImage(first))
	}
	changeAll(t, ctrl)
	before := ctrl.Image()
	stop()

	ctrl, stop = n.open(self)
	after := ctrl.Image()
	if !sameState(before, after) {
		t.Fatalf("image after restart differs:\n%s\nbefore:\n%s", formatImage(after), formatImage(before))
	}
	if after.ClusterID != first.ClusterID {
		t.Errorf("cluster id changed from %s to %s", first.ClusterID, after.ClusterID)
	}
	stop()

	// A new endpoint re-registers; nothing else changes.
	moved := self
	moved.Port = 9999
	ctrl, _ = n.open(moved)
	im := ctrl.Image()
	// A new incarnation: its epoch is its RegisterBroker record's offset,
	// and the node unfences its own broker in the same batch.
	if br, _ := im.Broker(1); br.Port != 9999 || br.Incarnation == before.Brokers[0].Incarnation ||
		br.Epoch != before.Offset+1 || br.Fenced {
		t.Errorf("moved broker: %+v", br)
	}
	if im.Offset != before.Offset+2 || !reflect.DeepEqual(im.topics, before.topics) {
		t.Errorf("re-registration changed more than the broker:\n%s", formatImage(im))
	}
}

func TestControllerValidateOnlyCommitsNothing(t *testing.T) {
	ctrl, _ := newNode(t).open(self)
	before := ctrl.Image()
	var calls atomic.Int32
	ctrl.OnChange(func(prev, next *Image) { calls.Add(1) })
	topic, err := ctrl.CreateTopic(CreateTopic{Name: "t", Partitions: 2, ReplicationFactor: 1}, 1, 1, true)
	if err != nil || topic == nil || topic.Name != "t" || len(topic.Partitions) != 2 {
		t.Fatalf("validate-only create: %+v, %v", topic, err)
	}
	if _, err := ctrl.CreateTopic(CreateTopic{Name: "u", Partitions: 1, ReplicationFactor: 1}, 1, 1, false); err != nil {
		t.Fatal(err)
	}
	if err := ctrl.CreatePartitions("u", 3, true); err != nil {
		t.Fatal(err)
	}
	if err := ctrl.AlterTopicConfigs("u", map[string]*string{"retention.ms": strp("1")}, true); err != nil {
		t.Fatal(err)
	}
	im := ctrl.Image()
	if im.Topic("t") != nil || len(im.Topic("u").Partitions) != 1 || len(im.Topic("u").Configs) != 0 {
		t.Errorf("validate-only changes were committed:\n%s", formatImage(im))
	}
	if im.Offset != before.Offset+2 || calls.Load() != 1 {
		t.Errorf("offset %d (was %d), %d change calls; want one committed change", im.Offset, before.Offset, calls.Load())
	}
}

func TestControllerErrors(t *testing.T) {
	ctrl, _ := newNode(t).open(self)
	if _, err := ctrl.CreateTopic(CreateTopic{Name: "t", Partitions: 1, ReplicationFactor: 1}, 1, 1, false); err != nil {
		t.Fatal(err)
	}
	b, _ := ctrl.Image().Broker(self.ID)
	cases := []struct {
		name string
		err  error
		want error
	}{
		{"exists", second(ctrl.CreateTopic(CreateTopic{Name: "t", Partitions: 1, ReplicationFactor: 1}, 1, 1, false)), ErrTopicExists},
		{"rf", second(ctrl.CreateTopic(CreateTopic{Name: "x", Partitions: 1, ReplicationFactor: 3}, 1, 1, false)), ErrInvalidReplicationFactor},
		{"config", second(ctrl.CreateTopic(CreateTopic{Name: "x", Partitions: 1, ReplicationFactor: 1,
			Configs: map[string]string{"retention.ms": "soon"}}, 1, 1, false)), ErrInvalidConfig},
		{"delete unknown", ctrl.DeleteTopic("x"), ErrUnknownTopic},
		{"fewer partitions", ctrl.CreatePartitions("t", 1, false), ErrInvalidPartitions},
		{"unknown config", ctrl.AlterTopicConfigs("t", map[string]*string{"nope": strp("1")}, false), ErrUnknownConfig},
		{"alter partition, stale broker epoch", ctrl.AlterPartition(AlterPartition{BrokerID: self.ID, BrokerEpoch: 99}), kerr.StaleBrokerEpoch},
		// A quorum sentinel wraps its Kafka error too.
		{"alter partition, unknown topic id", ctrl.AlterPartition(AlterPartition{BrokerID: self.ID, BrokerEpoch: b.Epoch}), kerr.UnknownTopicOrPartition},
	}
	for _, c := range cases {
		if !errors.Is(c.err, c.want) {
			t.Errorf("%s: got %v, want %v", c.name, c.err, c.want)
		}
	}
	if err := ctrl.Close(); err != nil {
		t.Fatal(err)
	}
	if err := ctrl.DeleteTopic("t"); !errors.Is(err, ErrClosed) {
		t.Errorf("after Close: %v", err)
	}
}

func second[T any](_ T, err error) error { return err }

// TestProducerIDsNeverRepeat allocates across clean restarts and crashes
// (a machine losing everything not synced): no id is handed out twice.
func TestProducerIDsNeverRepeat(t *testing.T) {
	n, mem := newMemNode(t)
	seen := map[int64]bool{}
	for round := range 6 {
		ctrl, stop := n.open(self)
		for i := range 300 {
			count := int64(1 + i%3)
			first, err := ctrl.AllocateProducerIDs(count)
			if err != nil {
				t.Fatal(err)
			}
			for id := first; id < first+count; id++ {
				if seen[id] {
					t.Fatalf("round %d: producer id %d handed out twice", round, id)
				}
				seen[id] = true
			}
		}
		if round%2 == 0 {
			stop()
		} else {
			mem = mem.CrashClone() // the old controller keeps running on the old copy
			n.fs = mem
		}
	}
}

// TestControllerCrashKeepsAcknowledged: after a crash every change that
// returned is in the image.
func TestControllerCrashKeepsAcknowledged(t *testing.T) {
	n, mem := newMemNode(t)
	ctrl, _ := n.open(self)
	changeAll(t, ctrl)
	want := ctrl.Image()

	n.fs = mem.CrashClone()
	ctrl, _ = n.open(self)
	if got := ctrl.Image(); !sameState(got, want) {
		t.Fatalf("after crash:\n%s\nacknowledged:\n%s", formatImage(got), formatImage(want))
	}
}

// TestControllerFailedSyncSticks: when the metadata log cannot be synced
// the change fails, and so does every later one: the log's state is unknown.
func TestControllerFailedSyncSticks(t *testing.T) {
	var fail atomic.Bool
	errDisk := errors.New("disk on fire")
	n, mem := newMemNode(t)
	n.fs = vfs.Inject(mem, func(op vfs.Op, path string) error {
		if fail.Load() && op == vfs.OpSync {
			return errDisk
		}
		return nil
	})
	ctrl, closeAll, err := n.tryOpen(self)
	if err != nil {
		t.Fatal(err)
	}
	defer closeAll() // fails: the log cannot be synced
	before := ctrl.Image()
	fail.Store(true)
	if _, err := ctrl.CreateTopic(CreateTopic{Name: "t", Partitions: 1, ReplicationFactor: 1}, 1, 1, false); !errors.Is(err, errDisk) {
		t.Fatalf("create with failing sync: %v", err)
	}
	fail.Store(false)
	if _, err := ctrl.AllocateProducerIDs(1); !errors.Is(err, errDisk) {
		t.Errorf("later change: %v, want the sticky sync error", err)
	}
	if ctrl.Image() != before {
		t.Error("image changed by a failed commit")
	}
}

// TestOnChangeOrder: listeners see every committed change once, in commit
// order, each prev being the previous next, before the change method
// returns.
func TestOnChangeOrder(t *testing.T) {
	ctrl, _ := newNode(t).open(self)
	var mu sync.Mutex
	var seen []*Image
	last := ctrl.Image()
	ctrl.OnChange(func(prev, next *Image) {
		mu.Lock()
		defer mu.Unlock()
		if prev != last || next.Offset <= prev.Offset {
			t.Errorf("change %d→%d does not follow %d", prev.Offset, next.Offset, last.Offset)
		}
		last = next
		seen = append(seen, next)
	})
	const workers, each = 4, 10
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := range each {
				name := fmt.Sprintf("t%d-%d", w, i)
				if _, err := ctrl.CreateTopic(CreateTopic{Name: name, Partitions: 1, ReplicationFactor: 1}, 1, 1, false); err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				delivered := last.Topic(name) != nil
				mu.Unlock()
				if !delivered {
					t.Errorf("CreateTopic(%s) returned before its change was delivered", name)
				}
			}
		})
	}
	wg.Wait()
	if len(seen) != workers*each || seen[len(seen)-1] != ctrl.Image() {
		t.Errorf("%d changes delivered, want %d ending at the current image", len(seen), workers*each)
	}
}

func TestControllerCorruptLog(t *testing.T) {
	n := newNode(t)
	_, stop := n.open(self)
	stop()

	cfg := MetadataLogConfig(segment.DefaultConfig())
	dd, err := segment.OpenDataDir(n.dir, func(string) segment.Config { return cfg }, segment.Options{Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	mlog := dd.Log(MetadataTopic, 0)
	foreign, err := segment.ValidateBatch(segment.EncodeBatch(nil, segment.BatchSpec{ProducerID: -1, ProducerEpoch: -1, BaseSequence: -1},
		[]segment.Record{{Key: []byte{42, 0}, Value: []byte("?")}}), cfg.BatchBytesMax)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := mlog.Append(foreign, 0); err != nil {
		t.Fatal(err)
	}
	if err := dd.Close(); err != nil {
		t.Fatal(err)
	}
	if _, _, err := n.tryOpen(self); !errors.Is(err, ErrCorruptMetadata) {
		t.Errorf("open with an unknown record type: %v", err)
	}
}
