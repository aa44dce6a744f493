package cli

import (
	"context"
	"fmt"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// -e for a group member (consume -g -e): the partitions to read are those
// assigned, from the group's committed offset (or -o where there is none)
// to their end as it was when consume started. kgo calls these from its
// group goroutine.

// onAssigned is kgo's OnPartitionsAssigned.
func (c *consumer) onAssigned(ctx context.Context, cl *kgo.Client, parts map[string][]int32) {
	select {
	case <-c.started:
	case <-ctx.Done():
		return
	}
	committed, err := kadm.NewClient(cl).FetchOffsets(ctx, c.flags.group)
	if err == nil {
		err = committed.Error()
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if err != nil {
		c.groupErr = fmt.Errorf("group %s: committed offsets: %w", c.flags.group, err)
		c.wakeLocked()
		return
	}
	if c.remaining == nil {
		c.remaining, c.assigned = map[int32]int64{}, map[int32]bool{}
	}
	for _, p := range parts[c.topic] {
		c.assigned[p] = true
		l, ok := c.ends[p]
		if !ok {
			continue // created after consume started: nothing to read before its end
		}
		at := c.start.position(l)
		if o, ok := committed.Lookup(c.topic, p); ok && o.At >= 0 {
			at = o.At
		}
		if at < l.end {
			c.remaining[p] = l.end
		}
	}
	if c.atEndLocked() {
		c.wakeLocked()
	}
}

// onRevoked is kgo's OnPartitionsRevoked and OnPartitionsLost: another
// member reads those partitions now.
func (c *consumer) onRevoked(_ context.Context, _ *kgo.Client, parts map[string][]int32) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, p := range parts[c.topic] {
		delete(c.assigned, p)
		delete(c.remaining, p)
	}
}

// wakeLocked ends the current poll, so that run sees that it is done or
// failed.
func (c *consumer) wakeLocked() {
	if c.wake != nil {
		c.wake()
	}
}
