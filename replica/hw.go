package replica

// hwState is the leader's high-watermark rule as a pure state: HW is the
// smallest LEO among the ISR members, it never moves back, and it does not
// advance while the ISR is smaller than min.insync.replicas. Today the ISR is
// only the leader itself; follower LEOs will arrive through updateLEO from
// follower fetches without changing the rule.
type hwState struct {
	minISR int
	leo    map[int32]int64 // LEO of each ISR member, by replica id
	hw     int64
}

// newHWState starts with the given ISR (every LEO unknown, -1) and HW.
func newHWState(isr []int32, minISR int, hw int64) hwState {
	s := hwState{minISR: minISR, leo: make(map[int32]int64, len(isr)), hw: hw}
	for _, id := range isr {
		s.leo[id] = -1
	}
	return s
}

// enoughReplicas reports whether acks=all appends may proceed.
func (s *hwState) enoughReplicas() bool { return len(s.leo) >= s.minISR }

// updateLEO records a replica's LEO and reports whether HW advanced. LEOs of
// replicas outside the ISR do not count.
func (s *hwState) updateLEO(replica int32, leo int64) bool {
	if _, ok := s.leo[replica]; !ok {
		return false
	}
	s.leo[replica] = leo
	if !s.enoughReplicas() {
		return false
	}
	low := leo
	for _, l := range s.leo {
		low = min(low, l)
	}
	if low <= s.hw {
		return false
	}
	s.hw = low
	return true
}
