package segment

import (
	"errors"
	"syscall"
)

// Sentinel errors; wrap them with context, test with errors.Is.
var (
	ErrOffsetOutOfRange = errors.New("offset out of range")    // below log start or beyond LEO
	ErrCorruptBatch     = errors.New("corrupt record batch")   // CRC, magic, length or count wrong
	ErrBatchTooLarge    = errors.New("record batch too large") // > Config.BatchBytesMax
	// ErrUnsupportedMagic and ErrTrailingBytes also wrap ErrCorruptBatch:
	// a batch of another format, or bytes after the batch's length. A
	// producer gets INVALID_RECORD for them rather than CORRUPT_MESSAGE.
	ErrUnsupportedMagic = errors.New("record batch magic is not 2")
	ErrTrailingBytes    = errors.New("bytes after the record batch")
	ErrClosed           = errors.New("log closed")
	ErrInvalidConfig    = errors.New("invalid segment config")
	// ErrOffsetMismatch: a replicated batch's base offset is below the LEO.
	ErrOffsetMismatch = errors.New("replicated batch starts below the log end offset")
	// ErrOpenFilesLimit: opening a segment would pass Options.OpenFilesMax.
	ErrOpenFilesLimit = errors.New("open segment files limit reached")
	// ErrCorruptCheckpoint: a checkpoint file was read but does not parse
	// (torn, truncated or damaged); an I/O error reading it is not this.
	ErrCorruptCheckpoint = errors.New("corrupt checkpoint file")
	// ErrNoSpace: the disk is full. It is ENOSPC itself, so errors.Is finds
	// it under any wrapping of the system call's error. Nothing is appended
	// and the log is not failed: appends work again once space returns.
	ErrNoSpace error = syscall.ENOSPC
	// ErrFailed: the log refuses appends and truncations after an error
	// that left what is on disk unknown (Log.Err); reads go on.
	ErrFailed = errors.New("log failed")
)
