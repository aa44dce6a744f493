package sysprobe

import (
	"context"
	"testing"
	"time"
)

func TestMeasure(t *testing.T) {
	l, err := Measure(context.Background(), t.TempDir(), 100*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	if l.LoopbackTCPGBps <= 0 || l.SeqWriteGBps <= 0 || l.SeqWriteSyncGBps <= 0 {
		t.Fatalf("limits %+v", l)
	}
}
