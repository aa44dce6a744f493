package netio

import "sync/atomic"

// budget counts the request bytes the server holds in memory: frames from
// their size prefix until the handler is done with them, and bytes a
// connection has buffered in gnet beyond the frame being received. A
// limit of 0 only counts.
type budget struct {
	limit int64
	used  atomic.Int64
}

// take reserves n bytes if they fit under the limit.
func (b *budget) take(n int64) bool {
	for {
		used := b.used.Load()
		if b.limit > 0 && used+n > b.limit {
			return false
		}
		if b.used.CompareAndSwap(used, used+n) {
			return true
		}
	}
}

// charge adds delta (negative to give back) whatever the limit, and
// reports whether the budget is over its limit afterwards.
func (b *budget) charge(delta int64) (over bool) {
	used := b.used.Add(delta)
	return b.limit > 0 && used > b.limit
}
