package e2e

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/riffle/riffle/internal/brokertest"
	"github.com/riffle/riffle/segment"
)

// TestDiskFull runs a broker on a small ext4 filesystem, fills it, and
// checks the whole life of a full disk: produce answers
// KAFKA_STORAGE_ERROR, fetch serves every acknowledged record, space freed
// under the running broker lets produce resume by itself, SIGTERM on the
// disk full again exits cleanly (no SIGBUS), a restart on the still-full
// disk serves reads, and so does one after a crash (recovery rebuilds
// indexes there), and once space is freed produce succeeds again without
// a restart, every acknowledged record at its offset.
//
// The second topic holds one small batch, too little for an index entry:
// its time index's first page is a hole until the final entry written at
// close, which is where a store through a writable map met SIGBUS.
func TestDiskFull(t *testing.T) {
	mnt := mountSmallExt4(t, 64<<20)
	b := brokertest.StartInDir(t, filepath.Join(mnt, "data"), "--set", "log.segment_bytes=1048576")
	const topic, small = "disk-full", "disk-full-small"
	createTopic(t, newClient(t, b.Addr()), topic, 1)
	createTopic(t, newClient(t, b.Addr()), small, 1)

	var acked []ackedRecord
	base := time.Now()
	producer := diskFullProducer(t, b.Addr())
	for i := 0; i < 100; i++ {
		if err := produceOne(producer, topic, i, base, &acked); err != nil {
			t.Fatalf("produce %d before the disk filled: %v", i, err)
		}
	}
	var smallAcked []ackedRecord
	if err := produceOne(producer, small, 0, base, &smallAcked); err != nil {
		t.Fatalf("produce to %s: %v", small, err)
	}
	filler := filepath.Join(mnt, "filler")
	fillDisk(t, filler)

	next := 100
	produceUntilFull(t, b.Addr(), producer, topic, &next, base, &acked, "produce to a full disk")
	checkAcked(t, b.Addr(), topic, acked, "on the full disk")

	// Space returns while the broker runs: produce resumes without a
	// restart, at the next offsets, and nothing acknowledged is lost.
	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	produceAfterSpace(t, producer, topic, &next, base, &acked, "space returned to the running broker")
	checkAcked(t, b.Addr(), topic, acked, "after space returned to the running broker")
	fillDisk(t, filler)
	produceUntilFull(t, b.Addr(), producer, topic, &next, base, &acked, "produce to a disk full again")

	// A write cut back after ENOSPC freed its blocks: take them, as any
	// other writer on the disk would.
	fillDisk(t, filler)
	b.Stop() // the test fails unless the broker exits 0
	b.Restart()
	checkAcked(t, b.Addr(), topic, acked, "after a restart on the full disk")
	checkStorageError(t, b.Addr(), topic, "produce after a restart on the full disk")
	b.Kill()
	b.Restart()
	checkAcked(t, b.Addr(), topic, acked, "after a crash and restart on the full disk")
	checkAcked(t, b.Addr(), small, smallAcked, "after a crash and restart on the full disk")

	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	// The broker notices by itself: the producer's next attempts succeed.
	producer = diskFullProducer(t, b.Addr())
	produceAfterSpace(t, producer, topic, &next, base, &acked, "space returned after the restarts")
	checkAcked(t, b.Addr(), topic, acked, "after space returned")
	checkAcked(t, b.Addr(), small, smallAcked, "after space returned")

	out := b.Output()
	for _, bad := range []string{"SIGBUS", "unexpected fault address", "unmapped error"} {
		if strings.Contains(out, bad) {
			t.Errorf("broker output holds %q", bad)
		}
	}
	if n := strings.Count(out, "disk full, appends fail"); n == 0 || n > 10 {
		t.Errorf("%d \"disk full\" log lines, want one per log each time it met it", n)
	}
	// Every failed request logging its ENOSPC would be thousands of lines
	// (the disk was full for seconds, under a producer retrying at once);
	// one per log change and one per partition at close is a few dozen.
	if n := strings.Count(out, "no space left on device"); n > 100 {
		t.Errorf("%d log lines name ENOSPC, want a few per log", n)
	}
}

// mountSmallExt4 makes an ext4 filesystem of size bytes in a file and
// loop-mounts it for the test, or skips the test when that is not possible
// (not root, no mkfs.ext4, no loop device).
func mountSmallExt4(t *testing.T, size int64) string {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("disk-full test: needs root to loop-mount a small ext4 filesystem")
	}
	dir := t.TempDir()
	img, mnt := filepath.Join(dir, "disk.img"), filepath.Join(dir, "mnt")
	if err := os.WriteFile(img, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(img, size); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(mnt, 0o755); err != nil {
		t.Fatal(err)
	}
	// -m 0: no blocks reserved for root, so the broker, running as root
	// here, meets ENOSPC where any user would.
	if out, err := exec.Command("mkfs.ext4", "-F", "-q", "-m", "0", img).CombinedOutput(); err != nil {
		t.Skipf("disk-full test: mkfs.ext4 (scripts/install-test-deps.sh installs e2fsprogs): %v %s", err, out)
	}
	if out, err := exec.Command("mount", "-o", "loop", img, mnt).CombinedOutput(); err != nil {
		t.Skipf("disk-full test: mount -o loop: %v %s", err, out)
	}
	t.Cleanup(func() {
		if out, err := exec.Command("umount", mnt).CombinedOutput(); err != nil {
			t.Errorf("umount %s: %v %s", mnt, err, out)
		}
	})
	return mnt
}

// fillDisk appends to path until the filesystem has no block left.
func fillDisk(t *testing.T, path string) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, chunk := range []int{1 << 20, 4096} {
		buf := make([]byte, chunk)
		for {
			if _, err := f.Write(buf); err != nil {
				if !errors.Is(err, syscall.ENOSPC) {
					t.Fatalf("fill %s: %v", path, err)
				}
				break
			}
		}
	}
	if err := f.Sync(); err != nil && !errors.Is(err, syscall.ENOSPC) {
		t.Fatal(err)
	}
}

// diskFullProducer sends one record per request with acks=all and gives
// up after a few tries, so a full disk shows as an error quickly.
func diskFullProducer(t *testing.T, addr string) *kgo.Client {
	return newClient(t, addr, kgo.RequiredAcks(kgo.AllISRAcks()), kgo.DisableIdempotentWrite(),
		kgo.RecordRetries(2), kgo.RecordDeliveryTimeout(30*time.Second), kgo.ProducerLinger(0))
}

// produceUntilFull produces until a record fails (the disk is full), then
// checks the error code a produce request gets. The client's own error may
// be a delivery timeout instead on a loaded machine: it retries a
// retriable error.
func produceUntilFull(t *testing.T, addr string, cl *kgo.Client, topic string, next *int, base time.Time, acked *[]ackedRecord, when string) {
	t.Helper()
	var err error
	for limit := *next + 5000; err == nil; *next++ {
		if *next == limit {
			t.Fatalf("%s: 5000 more records acknowledged, the disk never filled", when)
		}
		err = produceOne(cl, topic, *next, base, acked)
	}
	t.Logf("%s: %d records acknowledged, then %v", when, len(*acked), err)
	checkStorageError(t, addr, topic, when)
}

// checkStorageError sends a produce request of 8 KiB and wants
// KAFKA_STORAGE_ERROR back.
func checkStorageError(t *testing.T, addr, topic, when string) {
	t.Helper()
	batch := segment.EncodeBatch(nil, segment.BatchSpec{BaseTimestamp: time.Now().UnixMilli(), ProducerID: -1, ProducerEpoch: -1, BaseSequence: -1},
		[]segment.Record{{Value: make([]byte, 8192)}})
	if code := produceErrorCode(t, addr, produceRequest(topic, batch)); code != kerr.KafkaStorageError.Code {
		t.Fatalf("%s: error code %d, want KAFKA_STORAGE_ERROR (%d)", when, code, kerr.KafkaStorageError.Code)
	}
}

// produceAfterSpace produces 100 records once space has returned: the
// first attempts may still fail (a retriable error), so it retries until
// they succeed, for at most two minutes on a loaded machine.
func produceAfterSpace(t *testing.T, cl *kgo.Client, topic string, next *int, base time.Time, acked *[]ackedRecord, when string) {
	t.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	for done := 0; done < 100; *next++ {
		if err := produceOne(cl, topic, *next, base, acked); err != nil {
			if time.Now().After(deadline) {
				t.Fatalf("%s: produce still failing after two minutes: %v", when, err)
			}
			continue
		}
		done++
	}
}

// produceOne produces record i and, when acknowledged, appends where it
// went to acked.
func produceOne(cl *kgo.Client, topic string, i int, base time.Time, acked *[]ackedRecord) error {
	r := testRecord(topic, i, base)
	r.Value = append(r.Value, make([]byte, 4096)...) // fill faster
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := cl.ProduceSync(ctx, r).FirstErr(); err != nil {
		return err
	}
	*acked = append(*acked, ackedRecord{r.Partition, r.Offset, string(r.Key), string(r.Value)})
	return nil
}

// checkAcked reads the topic and checks that every acknowledged record is
// at its offset.
func checkAcked(t *testing.T, addr, topic string, acked []ackedRecord, when string) {
	t.Helper()
	got := consumeEverything(t, addr, topic)
	for _, a := range acked {
		r, ok := got[[2]int64{int64(a.partition), a.offset}]
		if !ok {
			t.Fatalf("%s: acknowledged record %s at %d/%d is missing", when, a.key, a.partition, a.offset)
		}
		if string(r.Key) != a.key || string(r.Value) != a.value {
			t.Fatalf("%s: offset %d/%d holds %s, acknowledged %s", when, a.partition, a.offset, r.Key, a.key)
		}
	}
	t.Logf("%s: %d acknowledged records all readable (%d in the log)", when, len(acked), len(got))
}
