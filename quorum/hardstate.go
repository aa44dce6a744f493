package quorum

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io/fs"
	"path/filepath"

	"go.etcd.io/raft/v3/raftpb"

	"github.com/riffle/riffle/segment/vfs"
)

// The HardState file, raft-hardstate beside the metadata log, holds raft's
// term, vote and commit index:
//
//	version    1 byte, 0
//	term       uint64, big-endian
//	vote       uint64
//	commit     uint64
//	checksum   CRC-32C of the 25 bytes before it, 4 bytes big-endian
//
// It is replaced whole through vfs.WriteFile, always after the entries it
// may commit are durable, so it never runs ahead of the log.
const (
	hardStateFile    = "raft-hardstate"
	hardStateVersion = 0
	hardStateBytes   = 1 + 3*8 + 4
)

// hardState is raft's HardState as plain values.
type hardState struct{ term, vote, commit uint64 }

func hardStateOf(hs *raftpb.HardState) hardState {
	return hardState{term: hs.GetTerm(), vote: hs.GetVote(), commit: hs.GetCommit()}
}

func (h hardState) proto() *raftpb.HardState {
	return &raftpb.HardState{Term: new(h.term), Vote: new(h.vote), Commit: new(h.commit)}
}

func (h hardState) encode() []byte {
	b := make([]byte, 0, hardStateBytes)
	b = append(b, hardStateVersion)
	b = binary.BigEndian.AppendUint64(b, h.term)
	b = binary.BigEndian.AppendUint64(b, h.vote)
	b = binary.BigEndian.AppendUint64(b, h.commit)
	return binary.BigEndian.AppendUint32(b, crc32.Checksum(b, castagnoli))
}

func writeHardState(fsys vfs.FS, dir string, h hardState) error {
	path := filepath.Join(dir, hardStateFile)
	if err := vfs.WriteFile(fsys, path, h.encode()); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

// readHardState reads the HardState file; found is false when there is none.
func readHardState(fsys vfs.FS, dir string) (h hardState, found bool, err error) {
	path := filepath.Join(dir, hardStateFile)
	b, err := readFile(fsys, path)
	if errors.Is(err, fs.ErrNotExist) {
		return h, false, nil
	}
	if err != nil {
		return h, false, fmt.Errorf("read %s: %w", path, err)
	}
	be := binary.BigEndian
	if len(b) != hardStateBytes || b[0] != hardStateVersion || crc32.Checksum(b[:hardStateBytes-4], castagnoli) != be.Uint32(b[hardStateBytes-4:]) {
		return h, false, fmt.Errorf("%w: %s: %d bytes that are not a version %d HardState", ErrCorruptMetadata, path, len(b), hardStateVersion)
	}
	return hardState{term: be.Uint64(b[1:]), vote: be.Uint64(b[9:]), commit: be.Uint64(b[17:])}, true, nil
}
