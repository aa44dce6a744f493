package quorum

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"

	"github.com/riffle/riffle/segment/vfs"
)

// Snapshot data, what raft carries in raftpb.Snapshot.Data from a leader
// to a follower that is too far behind, is the image as records:
//
//	version    1 byte, 0
//	offset     int64, big-endian: the metadata log offset the image is at
//	batch      one record batch (logbatch.go) of the records that rebuild
//	           the image; absent when there are none
//
// The offset travels with the data so that a follower installing it
// continues its metadata log at offset+1, where the leader's continues.
const (
	imageDataVersion     = 0
	imageDataHeaderBytes = 9
)

// encodeImage returns the snapshot data of im. The records come in a
// deterministic order: ClusterID, RegisterBroker and BrokerState by broker id, then per
// topic by name its Topic, Partition and Config (by key) records, then
// ProducerIDs. So equal images encode to equal bytes.
func encodeImage(im *Image) []byte {
	e := encoder{b: make([]byte, 0, imageDataHeaderBytes)}
	e.int8(imageDataVersion)
	e.int64(im.Offset)
	if recs := imageRecords(im); len(recs) > 0 {
		e.b = append(e.b, encodeBatch(recs, 0)...)
	}
	return e.b
}

func imageRecords(im *Image) []record {
	var recs []record
	if im.ClusterID != "" {
		recs = append(recs, clusterIDRecord{ClusterID: im.ClusterID})
	}
	for _, b := range im.Brokers {
		recs = append(recs, registerBrokerRecord{ID: b.ID, Host: b.Host, Port: b.Port, Rack: b.Rack, Incarnation: b.Incarnation},
			brokerStateRecord{ID: b.ID, Epoch: b.Epoch, Fenced: b.Fenced, InControlledShutdown: b.InControlledShutdown})
	}
	for _, t := range im.topicsByName() {
		recs = append(recs, topicRecord{Name: t.Name, ID: t.ID, Internal: t.Internal})
		for _, p := range t.Partitions {
			recs = append(recs, partitionRecord{TopicID: t.ID, Partition: p.ID, Replicas: p.Replicas, ISR: p.ISR,
				Leader: p.Leader, LeaderEpoch: p.LeaderEpoch, PartitionEpoch: p.PartitionEpoch,
				Removing: p.Removing, Adding: p.Adding})
		}
		for _, k := range slices.Sorted(maps.Keys(t.Configs)) {
			recs = append(recs, configRecord{Topic: t.Name, Key: k, Value: t.Configs[k]})
		}
	}
	for _, k := range slices.Sorted(maps.Keys(im.ClusterConfigs)) {
		recs = append(recs, configRecord{Key: k, Value: im.ClusterConfigs[k]})
	}
	recs = append(recs, im.Security.records()...)
	if im.ProducerIDsEnd > 0 {
		recs = append(recs, producerIDsRecord{BlockEnd: im.ProducerIDsEnd})
	}
	return recs
}

// decodeImage rebuilds the image that encodeImage encoded, with
// controllerID as its ControllerID (which is not metadata of the log).
func decodeImage(data []byte, controllerID int32) (*Image, error) {
	offset, err := imageDataOffset(data)
	if err != nil {
		return nil, err
	}
	im := emptyImage(controllerID)
	im.Offset = offset
	batch := data[imageDataHeaderBytes:]
	if len(batch) == 0 {
		return im, nil
	}
	_, recs, err := decodeBatch(batch)
	if err != nil {
		return nil, fmt.Errorf("snapshot data: %w", err)
	}
	b := newImageBuilder(im)
	if err := b.applyBatch(recs, offset); err != nil {
		return nil, fmt.Errorf("snapshot data: %w", err)
	}
	return b.next, nil
}

// imageDataOffset returns the metadata log offset of the image in snapshot
// data, reading only its header.
func imageDataOffset(data []byte) (int64, error) {
	if len(data) < imageDataHeaderBytes || data[0] != imageDataVersion {
		return 0, fmt.Errorf("%w: snapshot data of %d bytes without a version %d header", ErrCorruptMetadata, len(data), imageDataVersion)
	}
	offset := int64(binary.BigEndian.Uint64(data[1:]))
	if offset < -1 {
		return 0, fmt.Errorf("%w: snapshot data at offset %d", ErrCorruptMetadata, offset)
	}
	return offset, nil
}

// A snapshot file, <index>-<term>.snapshot (both 20 digits, so names sort
// by index), holds one raftpb.Snapshot:
//
//	version    1 byte, 0
//	metadata   uvarint length, then raftpb.SnapshotMetadata (protobuf)
//	data       the snapshot data, to the checksum
//	checksum   CRC-32C of everything before it, 4 bytes big-endian
//
// It is written whole through vfs.WriteFile: a crash leaves it complete or
// absent.
const (
	snapshotSuffix      = ".snapshot"
	snapshotFileVersion = 0
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

func snapshotName(index, term uint64) string {
	return fmt.Sprintf("%020d-%020d%s", index, term, snapshotSuffix)
}

// parseSnapshotName returns the index and term a snapshot file's name
// carries; ok is false for any other name.
func parseSnapshotName(name string) (index, term uint64, ok bool) {
	stem, found := strings.CutSuffix(name, snapshotSuffix)
	is, ts, found2 := strings.Cut(stem, "-")
	if !found || !found2 || len(is) != 20 || len(ts) != 20 {
		return 0, 0, false
	}
	index, err1 := strconv.ParseUint(is, 10, 64)
	term, err2 := strconv.ParseUint(ts, 10, 64)
	return index, term, err1 == nil && err2 == nil
}

func encodeSnapshotFile(snap *raftpb.Snapshot) ([]byte, error) {
	meta, err := proto.Marshal(snap.GetMetadata())
	if err != nil {
		return nil, fmt.Errorf("encode snapshot metadata: %w", err)
	}
	b := make([]byte, 0, 1+binary.MaxVarintLen64+len(meta)+len(snap.GetData())+4)
	b = append(b, snapshotFileVersion)
	b = binary.AppendUvarint(b, uint64(len(meta)))
	b = append(b, meta...)
	b = append(b, snap.GetData()...)
	return binary.BigEndian.AppendUint32(b, crc32.Checksum(b, castagnoli)), nil
}

func decodeSnapshotFile(b []byte) (*raftpb.Snapshot, error) {
	if len(b) < 5 || b[0] != snapshotFileVersion {
		return nil, errors.New("no version 0 header")
	}
	body := b[:len(b)-4]
	if sum := binary.BigEndian.Uint32(b[len(b)-4:]); crc32.Checksum(body, castagnoli) != sum {
		return nil, errors.New("checksum mismatch")
	}
	n, w := binary.Uvarint(body[1:])
	if w <= 0 || n > uint64(len(body)-1-w) {
		return nil, errors.New("bad metadata length")
	}
	meta := &raftpb.SnapshotMetadata{}
	if err := proto.Unmarshal(body[1+w:1+w+int(n)], meta); err != nil {
		return nil, fmt.Errorf("metadata: %w", err)
	}
	return &raftpb.Snapshot{Metadata: raftpb.EnsureSnapshotMetadata(meta), Data: body[1+w+int(n):]}, nil
}

// writeSnapshotFile makes snap durable in dir under its name.
func writeSnapshotFile(fsys vfs.FS, dir string, snap *raftpb.Snapshot) error {
	b, err := encodeSnapshotFile(snap)
	if err != nil {
		return err
	}
	name := filepath.Join(dir, snapshotName(snap.GetMetadata().GetIndex(), snap.GetMetadata().GetTerm()))
	if err := vfs.WriteFile(fsys, name, b); err != nil {
		return fmt.Errorf("write snapshot %s: %w", name, err)
	}
	return nil
}

// readSnapshotFile reads and checks the snapshot file name in dir.
func readSnapshotFile(fsys vfs.FS, dir, name string) (*raftpb.Snapshot, error) {
	path := filepath.Join(dir, name)
	b, err := readFile(fsys, path)
	if err != nil {
		return nil, err
	}
	snap, err := decodeSnapshotFile(b)
	if err != nil {
		return nil, fmt.Errorf("%w: snapshot %s: %w", ErrCorruptMetadata, path, err)
	}
	index, term, _ := parseSnapshotName(name)
	if snap.GetMetadata().GetIndex() != index || snap.GetMetadata().GetTerm() != term {
		return nil, fmt.Errorf("%w: snapshot %s holds index %d term %d", ErrCorruptMetadata, path,
			snap.GetMetadata().GetIndex(), snap.GetMetadata().GetTerm())
	}
	return snap, nil
}

// readFile returns a whole file's bytes.
func readFile(fsys vfs.FS, path string) ([]byte, error) {
	f, err := fsys.OpenFile(path, os.O_RDONLY, 0)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	size, err := f.Size()
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	b := make([]byte, size)
	if n, err := f.ReadAt(b, 0); n < len(b) {
		if err == nil || errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return nil, fmt.Errorf("%s: read %d of %d bytes: %w", path, n, size, err)
	}
	return b, nil
}

// snapshotFiles lists the snapshot files in dir, oldest first, and removes
// the temporary files a crash in vfs.WriteFile left.
func snapshotFiles(fsys vfs.FS, dir string) ([]string, error) {
	names, err := fsys.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var snaps []string
	for _, n := range names {
		switch {
		case strings.HasSuffix(n, ".tmp") && (strings.HasPrefix(n, hardStateFile) || strings.Contains(n, snapshotSuffix)):
			if err := fsys.Remove(filepath.Join(dir, n)); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return nil, err
			}
		case strings.HasSuffix(n, snapshotSuffix):
			if _, _, ok := parseSnapshotName(n); ok {
				snaps = append(snaps, n)
			}
		}
	}
	return snaps, nil // ReadDir sorts; fixed-width names sort by index
}

// confStatesEqual compares the voter and learner sets of two ConfStates,
// ignoring order.
func confStatesEqual(a, b *raftpb.ConfState) bool {
	same := func(x, y []uint64) bool {
		return slices.Equal(slices.Sorted(slices.Values(x)), slices.Sorted(slices.Values(y)))
	}
	return same(a.GetVoters(), b.GetVoters()) && same(a.GetLearners(), b.GetLearners()) &&
		same(a.GetVotersOutgoing(), b.GetVotersOutgoing()) && same(a.GetLearnersNext(), b.GetLearnersNext()) &&
		a.GetAutoLeave() == b.GetAutoLeave()
}
