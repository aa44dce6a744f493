package quorum

import (
	"hash/maphash"
	"iter"
	"math/bits"
	"slices"
)

// pmap is an immutable hash map (a hash array mapped trie): set and remove
// return a new map that shares every node but the few on the key's path
// with the old one. The image holds its topics in pmaps so that a change
// costs O(log n) for what it touches, where copying a Go map costs O(n)
// for every topic of the cluster. The zero pmap is empty.
type pmap[K comparable, V any] struct {
	root *pnode[K, V]
	n    int
}

// pmapSeed is every pmap's hash seed: maps that share nodes must hash alike.
var pmapSeed = maphash.MakeSeed()

const pmapBits = 5 // hash bits consumed per trie level: 32-way nodes

// pnode is a trie node: bitmap has bit i set when slot index i (the next
// pmapBits bits of a key's hash) is taken; slots holds the taken ones in
// index order, each a subtree or a leaf.
type pnode[K comparable, V any] struct {
	bitmap uint32
	slots  []pslot[K, V]
}

type pslot[K comparable, V any] struct {
	child *pnode[K, V]
	leaf  *pleaf[K, V] // when child is nil
}

// pleaf holds the entries whose keys share one 64-bit hash.
type pleaf[K comparable, V any] struct {
	hash    uint64
	entries []pentry[K, V]
}

type pentry[K comparable, V any] struct {
	key K
	val V
}

func pmapHash[K comparable](k K) uint64 { return maphash.Comparable(pmapSeed, k) }

// slotBit is the bitmap bit of hash h at depth d.
func slotBit(h uint64, depth int) uint32 { return 1 << ((h >> (depth * pmapBits)) & (1<<pmapBits - 1)) }

// pos is the index in slots of the slot with bit.
func (n *pnode[K, V]) pos(bit uint32) int { return bits.OnesCount32(n.bitmap & (bit - 1)) }

// Len is the number of entries.
func (m pmap[K, V]) Len() int { return m.n }

// get returns the value of key, if any.
func (m pmap[K, V]) get(key K) (V, bool) {
	h := pmapHash(key)
	for n, depth := m.root, 0; n != nil; depth++ {
		bit := slotBit(h, depth)
		if n.bitmap&bit == 0 {
			break
		}
		s := n.slots[n.pos(bit)]
		if s.child != nil {
			n = s.child
			continue
		}
		if s.leaf.hash == h {
			for _, e := range s.leaf.entries {
				if e.key == key {
					return e.val, true
				}
			}
		}
		break
	}
	var zero V
	return zero, false
}

// set returns m with key mapped to val.
func (m pmap[K, V]) set(key K, val V) pmap[K, V] {
	root, added := m.root.set(0, pmapHash(key), pentry[K, V]{key, val})
	if added {
		m.n++
	}
	m.root = root
	return m
}

func (n *pnode[K, V]) set(depth int, h uint64, e pentry[K, V]) (*pnode[K, V], bool) {
	if n == nil {
		n = &pnode[K, V]{}
	}
	bit := slotBit(h, depth)
	i := n.pos(bit)
	c := &pnode[K, V]{bitmap: n.bitmap | bit, slots: slices.Clone(n.slots)}
	if n.bitmap&bit == 0 {
		c.slots = slices.Insert(c.slots, i, pslot[K, V]{leaf: &pleaf[K, V]{hash: h, entries: []pentry[K, V]{e}}})
		return c, true
	}
	s := n.slots[i]
	switch {
	case s.child != nil:
		child, added := s.child.set(depth+1, h, e)
		c.slots[i] = pslot[K, V]{child: child}
		return c, added
	case s.leaf.hash == h:
		entries := slices.Clone(s.leaf.entries)
		j := slices.IndexFunc(entries, func(o pentry[K, V]) bool { return o.key == e.key })
		if j >= 0 {
			entries[j] = e
		} else {
			entries = append(entries, e)
		}
		c.slots[i] = pslot[K, V]{leaf: &pleaf[K, V]{hash: h, entries: entries}}
		return c, j < 0
	default: // another hash in the slot: push both a level down
		child := &pnode[K, V]{bitmap: slotBit(s.leaf.hash, depth+1), slots: []pslot[K, V]{s}}
		child, _ = child.set(depth+1, h, e)
		c.slots[i] = pslot[K, V]{child: child}
		return c, true
	}
}

// remove returns m without key.
func (m pmap[K, V]) remove(key K) pmap[K, V] {
	root, removed := m.root.remove(0, pmapHash(key), key)
	if removed {
		m.n--
		m.root = root
	}
	return m
}

// remove returns n without key (nil when that leaves it empty) and whether
// key was there.
func (n *pnode[K, V]) remove(depth int, h uint64, key K) (*pnode[K, V], bool) {
	if n == nil {
		return nil, false
	}
	bit := slotBit(h, depth)
	if n.bitmap&bit == 0 {
		return n, false
	}
	i := n.pos(bit)
	s := n.slots[i]
	var repl pslot[K, V] // the slot's replacement; empty to drop it
	if s.child != nil {
		child, removed := s.child.remove(depth+1, h, key)
		if !removed {
			return n, false
		}
		repl.child = child
	} else {
		j := slices.IndexFunc(s.leaf.entries, func(o pentry[K, V]) bool { return o.key == key })
		if s.leaf.hash != h || j < 0 {
			return n, false
		}
		if len(s.leaf.entries) > 1 {
			repl.leaf = &pleaf[K, V]{hash: h, entries: slices.Delete(slices.Clone(s.leaf.entries), j, j+1)}
		}
	}
	c := &pnode[K, V]{bitmap: n.bitmap, slots: slices.Clone(n.slots)}
	if repl.child == nil && repl.leaf == nil {
		c.bitmap &^= bit
		c.slots = slices.Delete(c.slots, i, i+1)
		if len(c.slots) == 0 {
			return nil, true
		}
	} else {
		c.slots[i] = repl
	}
	return c, true
}

// all yields every entry, in no particular order.
func (m pmap[K, V]) all() iter.Seq2[K, V] {
	return func(yield func(K, V) bool) { m.root.each(yield) }
}

func (n *pnode[K, V]) each(yield func(K, V) bool) bool {
	if n == nil {
		return true
	}
	for _, s := range n.slots {
		if s.child != nil {
			if !s.child.each(yield) {
				return false
			}
			continue
		}
		for _, e := range s.leaf.entries {
			if !yield(e.key, e.val) {
				return false
			}
		}
	}
	return true
}
