package kafka

import (
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/riffle/riffle/quorum"
	"github.com/riffle/riffle/segment/vfs"
)

// TestProduceGroupCommit: with log.sync_every_append, concurrent producers
// of one partition share fdatasyncs through the whole produce path (Produce
// -> replica.Partition -> segment.Log): the partition's append lock covers
// offset assignment and the write, not the sync. Each answer still comes
// only once its batch is durable, and HW never covers a batch before it is
// durable: a consumer never reads what a power loss could take back.
func TestProduceGroupCommit(t *testing.T) {
	const producers, each = 32, 20
	var syncs atomic.Int64
	// A disk's flush latency, so that appends arrive while a sync runs
	// whatever the test's filesystem.
	slowSync := vfs.Inject(vfs.OS, func(op vfs.Op, _ string) error {
		if op == vfs.OpSync {
			time.Sleep(time.Millisecond)
		}
		return nil
	})
	s := newBrokerStackOn(t, stackConfig(), quorum.Options{}, stackStorage{
		fs: slowSync, onSync: func(time.Duration) { syncs.Add(1) }, syncEveryAppend: true})
	s.createTopic("t", 1, nil)
	part := s.Partition("t", 0)
	log := part.Log()
	before := syncs.Load()

	var wg sync.WaitGroup
	errs := make(chan error, producers)
	for range producers {
		wg.Go(func() {
			for range each {
				resp, err := exchange[*kmsg.ProduceResponse](s.b, produceReq(9, 1, "t", map[int32][]byte{0: plainBatch(2)}))
				if err != nil {
					errs <- err
					return
				}
				sp := resp.Topics[0].Partitions[0]
				if err := kerr.ErrorForCode(sp.ErrorCode); err != nil {
					errs <- err
					return
				}
				if rp := log.RecoveryPoint(); rp <= sp.BaseOffset+1 {
					errs <- fmt.Errorf("batch at %d answered before it was durable (recovery point %d)", sp.BaseOffset, rp)
					return
				}
				// HW first: the recovery point only grows.
				if hw := part.HighWatermark(); hw > log.RecoveryPoint() {
					errs <- fmt.Errorf("HW %d above the durable offsets", hw)
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	const produces = producers * each
	if leo := log.LogEndOffset(); leo != 2*produces {
		t.Fatalf("LEO %d after %d produces of 2 records", leo, produces)
	}
	n := syncs.Load() - before
	t.Logf("%d producers, %d produces, %d fdatasync flushes", producers, produces, n)
	if n > produces/2 {
		t.Fatalf("%d fdatasync flushes for %d produces: concurrent producers do not share them", n, produces)
	}
}
