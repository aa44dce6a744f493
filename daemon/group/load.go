package group

import (
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/riffle/riffle/quorum"
	"github.com/riffle/riffle/replica"
	"github.com/riffle/riffle/segment"
)

// loadReadBytes bounds one read of a partition during a load.
const loadReadBytes = 1 << 20

var errLoadCancelled = errors.New("load cancelled")

// follow brings the served partitions in line with the image: partitions
// of __consumer_offsets this broker leads (and hosts) are loaded, others
// are dropped.
func (c *Coordinator) follow(im *quorum.Image) {
	c.Mu.Lock()
	defer c.Mu.Unlock()
	if c.ClosedLocked() {
		return
	}
	led := map[int32]bool{}
	t := im.Topic(OffsetsTopic)
	if t != nil {
		for _, p := range t.Partitions {
			if p.Leader == c.opts.NodeID && c.opts.Partitions.Partition(OffsetsTopic, p.ID) != nil {
				led[p.ID] = true
			}
		}
		c.m.SetPartitionCount(int32(len(t.Partitions)))
	} else {
		c.m.SetPartitionCount(0)
		c.maybeCreateTopicLocked(im)
	}
	now := c.nowMs()
	for _, s := range []PartitionState{PartitionLoading, PartitionActive} {
		for _, p := range c.m.Partitions(s) {
			if !led[p] {
				c.CancelLoadLocked(p)
				c.m.SetPartition(now, p, PartitionNone)
			}
		}
	}
	for p := range led {
		if slices.Contains(c.m.Partitions(PartitionLoading), p) || slices.Contains(c.m.Partitions(PartitionActive), p) {
			continue
		}
		gen := c.StartLoadLocked(p)
		c.m.SetPartition(now, p, PartitionLoading)
		c.Go(func() { c.load(p, gen) })
	}
	c.runLocked()
}

// load replays partition p into the machine and then serves it, unless
// the load was cancelled (gen moved on) meanwhile.
func (c *Coordinator) load(p int32, gen uint64) {
	start := time.Now()
	records := 0
	err := c.replay(p, func(b BatchInfo, key, value []byte) error {
		records++
		if err := c.m.loadBatchRecord(c.nowMs(), p, b, key, value); err != nil {
			c.log.Warn("group: skipping unreadable record", "partition", p, "err", err)
		}
		return nil
	}, gen)
	c.Mu.Lock()
	defer c.Mu.Unlock()
	if !c.LoadCurrentLocked(p, gen) {
		return
	}
	if err != nil {
		c.log.Error("group: loading offsets partition failed; not serving its groups", "partition", p, "err", err)
		c.m.SetPartition(c.nowMs(), p, PartitionNone)
	} else {
		c.log.Info("group: offsets partition loaded", "partition", p, "records", records, "took", time.Since(start))
		c.m.SetPartition(c.nowMs(), p, PartitionActive)
	}
	c.runLocked()
}

// replay calls fn with every record of partition p from its log start to
// its LEO, as Kafka's coordinator loads: a new leader's HW may still lag
// the records its predecessor had committed. Each read's records are fed
// under the lock, checking that the load is still wanted.
func (c *Coordinator) replay(p int32, fn func(b BatchInfo, key, value []byte) error, gen uint64) error {
	rp := c.opts.Partitions.Partition(OffsetsTopic, p)
	if rp == nil {
		return fmt.Errorf("partition %d is not hosted", p)
	}
	return Replay(rp, func(buf []byte) (int64, error) {
		c.Mu.Lock()
		defer c.Mu.Unlock()
		if !c.LoadCurrentLocked(p, gen) {
			return 0, errLoadCancelled
		}
		return EachRecord(buf, fn)
	})
}

// Replay reads an internal topic's partition from its log start to its
// LEO at the call, handing feed the whole batches of each read; feed
// returns the offset after them. The transaction coordinator loads
// __transaction_state with it too.
func Replay(rp *replica.Partition, feed func(buf []byte) (next int64, err error)) error {
	end := rp.Log().LogEndOffset()
	var buf []byte
	for off := rp.Log().LogStartOffset(); off < end; {
		var err error
		if buf, err = readBatches(rp, off, buf); err != nil {
			return err
		}
		next, err := feed(buf)
		if err != nil {
			return fmt.Errorf("offset %d: %w", off, err)
		}
		off = next
	}
	return nil
}

// readBatches reads whole batches from offset off on (loadReadBytes, or one
// larger batch) into buf, reusing its space.
func readBatches(rp *replica.Partition, off int64, buf []byte) ([]byte, error) {
	res, err := rp.Read(off, loadReadBytes, replica.ReadReplica, true, -1)
	if err != nil {
		return nil, err
	}
	defer res.Region.Release()
	if res.Region.Len == 0 {
		return nil, fmt.Errorf("empty read at offset %d below the log end", off)
	}
	buf = slices.Grow(buf[:0], int(res.Region.Len))[:res.Region.Len]
	if n, err := res.Region.File.ReadAt(buf, res.Region.Pos); n < len(buf) {
		return nil, fmt.Errorf("read at offset %d: %d of %d bytes: %w", off, n, len(buf), err)
	}
	return buf, nil
}

// BatchInfo is what a replay needs of a record's batch: its producer, and
// whether it is transactional or a control batch (a transaction marker).
type BatchInfo struct {
	ProducerID    int64
	ProducerEpoch int16
	Transactional bool
	Control       bool
}

// EachRecord calls fn with the batch and the key and value of every record
// in the batches in buf and returns the offset after the last batch.
// Batches were checked (CRC) when appended and on recovery; only the
// coordinators' uncompressed batches are expected (others are skipped).
func EachRecord(buf []byte, fn func(b BatchInfo, key, value []byte) error) (int64, error) {
	var next int64
	for len(buf) > 0 {
		var b kmsg.RecordBatch
		if len(buf) < 12 {
			return 0, errors.New("truncated batch")
		}
		size := 12 + int(binary.BigEndian.Uint32(buf[8:12]))
		if size > len(buf) {
			return 0, errors.New("truncated batch")
		}
		if err := b.ReadFrom(buf[:size]); err != nil {
			return 0, fmt.Errorf("batch: %w", err)
		}
		buf = buf[size:]
		next = b.FirstOffset + int64(b.LastOffsetDelta) + 1
		if b.Attributes&segment.AttrCompressionMask != 0 { // not written by us
			continue
		}
		info := BatchInfo{ProducerID: b.ProducerID, ProducerEpoch: b.ProducerEpoch,
			Transactional: b.Attributes&segment.AttrTransactional != 0, Control: b.Attributes&segment.AttrControl != 0}
		recs := b.Records
		for i := int32(0); i < b.NumRecords; i++ {
			n, w := binary.Varint(recs)
			if w <= 0 || n < 0 || n > int64(len(recs)-w) {
				return 0, fmt.Errorf("batch at %d: record %d length", b.FirstOffset, i)
			}
			var r kmsg.Record
			if err := r.ReadFrom(recs[:w+int(n)]); err != nil {
				return 0, fmt.Errorf("batch at %d: record %d: %w", b.FirstOffset, i, err)
			}
			recs = recs[w+int(n):]
			if err := fn(info, r.Key, r.Value); err != nil {
				return 0, err
			}
		}
	}
	return next, nil
}
