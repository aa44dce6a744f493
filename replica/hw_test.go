package replica

import "testing"

func TestHWState(t *testing.T) {
	type step struct {
		replica      int32
		leo          int64
		wantAdvanced bool
		wantHW       int64
	}
	tests := []struct {
		name   string
		isr    []int32
		minISR int
		steps  []step
	}{
		{"single replica follows LEO", []int32{1}, 1, []step{
			{1, 0, false, 0},
			{1, 5, true, 5},
			{1, 9, true, 9},
		}},
		{"below min.insync.replicas never advances", []int32{1}, 2, []step{
			{1, 5, false, 0},
		}},
		{"minimum over the ISR", []int32{1, 2, 3}, 2, []step{
			{1, 10, false, 0}, // followers' LEOs unknown
			{2, 4, false, 0},
			{3, 7, true, 4},
			{2, 12, true, 7},
			{3, 12, true, 10},
		}},
		{"never moves back", []int32{1, 2}, 1, []step{
			{1, 8, false, 0},
			{2, 8, true, 8},
			{2, 3, false, 8},
		}},
		{"outside the ISR ignored", []int32{1}, 1, []step{
			{2, 100, false, 0},
			{1, 3, true, 3},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newHWState(tt.isr, tt.minISR, 0)
			for i, st := range tt.steps {
				if got := s.updateLEO(st.replica, st.leo); got != st.wantAdvanced || s.hw != st.wantHW {
					t.Fatalf("step %d: LEO(%d)=%d: advanced %v HW %d, want %v %d",
						i, st.replica, st.leo, got, s.hw, st.wantAdvanced, st.wantHW)
				}
			}
		})
	}
}
