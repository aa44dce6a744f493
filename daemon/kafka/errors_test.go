package kafka

import (
	"bytes"
	"fmt"
	"log/slog"
	"os"
	"syscall"
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/riffle/riffle/segment"
)

// Storage errors come up wrapped in the layers' context: a full disk and a
// failed log answer KAFKA_STORAGE_ERROR, without an "unmapped error" line
// per request.
func TestStorageErrorCodes(t *testing.T) {
	var logged bytes.Buffer
	b := &Broker{log: slog.New(slog.NewTextHandler(&logged, nil))}
	full := &os.PathError{Op: "write", Path: "/data/t-0/00000000000000000000.log", Err: syscall.ENOSPC}
	for _, err := range []error{
		fmt.Errorf("partition t-0: log /data/t-0: segment 0: write at 0: %w", full),
		fmt.Errorf("partition t-0: log /data/t-0: %w earlier: fdatasync: %w", segment.ErrFailed, syscall.EIO),
	} {
		if got := b.errorCode(err); got != kerr.KafkaStorageError.Code {
			t.Errorf("errorCode(%v) = %d, want KAFKA_STORAGE_ERROR (%d)", err, got, kerr.KafkaStorageError.Code)
		}
	}
	if logged.Len() > 0 {
		t.Errorf("mapped errors were logged: %s", logged.String())
	}
}
