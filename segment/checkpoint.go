package segment

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strconv"
	"strings"

	"github.com/riffle/riffle/segment/vfs"
)

// checkpointBytesMax bounds what readCheckpoint loads.
const checkpointBytesMax = 64 << 20

// writeCheckpoint atomically replaces path (vfs.WriteFile) with Kafka's
// checkpoint text format: a version line (0), a count line, then one entry
// per line. Unless durable, nothing is synced (vfs.ReplaceFile).
func writeCheckpoint(fsys vfs.FS, path string, entries []string, durable bool) error {
	var b strings.Builder
	fmt.Fprintf(&b, "0\n%d\n", len(entries))
	for _, e := range entries {
		b.WriteString(e)
		b.WriteByte('\n')
	}
	replace := vfs.ReplaceFile
	if durable {
		replace = vfs.WriteFile
	}
	if err := replace(fsys, path, []byte(b.String())); err != nil {
		return fmt.Errorf("checkpoint %s: %w", path, err)
	}
	return nil
}

// readCheckpoint returns the entries of a checkpoint file, each split into
// exactly fields fields; nil when the file does not exist. A file that does
// not parse gives ErrCorruptCheckpoint; an I/O error is returned as it is.
func readCheckpoint(fsys vfs.FS, path string, fields int) ([][]string, error) {
	f, err := fsys.OpenFile(path, os.O_RDONLY, 0)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("checkpoint %s: %w", path, err)
	}
	defer f.Close()
	size, err := f.Size()
	if err != nil {
		return nil, fmt.Errorf("checkpoint %s: %w", path, err)
	}
	if size > checkpointBytesMax {
		return nil, fmt.Errorf("checkpoint %s: %w: %d bytes, limit %d", path, ErrCorruptCheckpoint, size, checkpointBytesMax)
	}
	buf := make([]byte, size)
	if _, err := f.ReadAt(buf, 0); err != nil && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("checkpoint %s: %w", path, err)
	}
	entries, err := parseCheckpoint(string(buf), fields)
	if err != nil {
		return nil, fmt.Errorf("checkpoint %s: %w: %w", path, ErrCorruptCheckpoint, err)
	}
	return entries, nil
}

// parseCheckpoint splits a checkpoint's text. Every line ends in a newline,
// as every writer of the format ends it, so a file cut mid-number is caught.
func parseCheckpoint(text string, fields int) ([][]string, error) {
	body, ok := strings.CutSuffix(text, "\n")
	if !ok {
		return nil, errors.New("no newline at the end")
	}
	lines := strings.Split(body, "\n")
	if len(lines) < 2 || lines[0] != "0" {
		return nil, fmt.Errorf("want version line 0, got %q", lines[0])
	}
	count, err := strconv.Atoi(lines[1])
	if err != nil || count != len(lines)-2 {
		return nil, fmt.Errorf("count line %q does not match %d entries", lines[1], len(lines)-2)
	}
	entries := make([][]string, 0, count)
	for _, line := range lines[2:] {
		e := strings.Fields(line)
		if len(e) != fields {
			return nil, fmt.Errorf("entry %q: want %d fields", line, fields)
		}
		entries = append(entries, e)
	}
	return entries, nil
}
