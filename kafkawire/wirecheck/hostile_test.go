package wirecheck

import (
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/kbin"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// cat joins byte strings written in pieces for readability.
func cat(parts ...string) []byte { return []byte(strings.Join(parts, "")) }

// encoded is req's body at version, without its header.
func encoded(req kmsg.Request, version int16) string {
	req.SetVersion(version)
	return string(req.AppendTo(nil))
}

// fetch12Head is a Fetch v12 body up to its top-level tag section:
// default fields and no topics.
func fetch12Head(t *testing.T) string {
	t.Helper()
	b := encoded(kmsg.NewPtrFetchRequest(), 12)
	if b[len(b)-1] != 0 {
		t.Fatalf("Fetch v12 body %x does not end in an empty tag section", b)
	}
	return b[:len(b)-1]
}

// TestRefusesCountsBeyondTheBytesLeft feeds bodies whose counts or lengths
// exceed the bytes left, each of which would be read by kmsg.
func TestRefusesCountsBeyondTheBytesLeft(t *testing.T) {
	const maxUvarint = "\xff\xff\xff\xff\x0f" // 2^32-1
	uvar := func(u uint32) string { return string(kbin.AppendUvarint(nil, u)) }
	cases := []struct {
		name    string
		key, v  int16
		body    []byte
		wantErr string
	}{
		{"the 31-byte reproducer: ApiVersions v3 tag count 2^32-1", 18, 3,
			cat("\x02x", "\x021", maxUvarint), "tag count 4294967295 exceeds the 0 bytes left"},
		{"a tag count that needs one byte more", 18, 3,
			cat("\x02x", "\x021", "\x02", "\x01\x00\x01"), "tag count 2 exceeds the 3 bytes left"},
		{"a tag size beyond the bytes left", 18, 3,
			cat("\x02x", "\x021", "\x01", "\x05\x09", "abc"), "tag 5: 9 bytes needed, 3 left"},
		{"a tag count inside an unknown tag is not read", 18, 3,
			cat("\x02x", "\x021", "\x01", "\x05\x05", maxUvarint), ""},
		{"a tag count inside Fetch v12's ReplicaState tag", 1, 12,
			cat(fetch12Head(t), "\x01", "\x01\x11", "\x00\x00\x00\x01", "\x00\x00\x00\x00\x00\x00\x00\x02", maxUvarint),
			"tag 1 (ReplicaState): tag count 4294967295 exceeds the 0 bytes left"},
		{"a Fetch v12 ClusterId tag whose string overruns its size", 1, 12,
			cat(fetch12Head(t), "\x01", "\x00\x03", "\x06abcde"), "tag 0 (ClusterId): length 5 exceeds the 2 bytes left"},
		{"a Fetch v12 ClusterId tag with bytes left over", 1, 12,
			cat(fetch12Head(t), "\x01", "\x00\x04", "\x02a", "zz"), "tag 0 (ClusterId): 2 bytes left over"},
		{"a Fetch v12 ClusterId tag, null", 1, 12,
			cat(fetch12Head(t), "\x01", "\x00\x01", "\x00"), ""},
		{"a tag count in a Fetch v12 partition", 1, 12,
			cat(strings.TrimSuffix(fetch12Head(t), "\x01\x01\x01"), // no topics, forgotten topics, rack
				"\x02", "\x02t", "\x02", "\x00\x00\x00\x00", "\x00\x00\x00\x00", "\x00\x00\x00\x00\x00\x00\x00\x00",
				"\x00\x00\x00\x00", "\x00\x00\x00\x00\x00\x00\x00\x00", "\x00\x00\x00\x00", maxUvarint),
			"Topics: Partitions: tag count 4294967295 exceeds the 0 bytes left"},
		{"Metadata v12: a compact array count of 2^32-2", 3, 12,
			cat(maxUvarint, "\x01\x00"), "Topics: count 4294967294 of at least 18 bytes each exceeds the 2 bytes left"},
		{"Produce v3: a classic array count of 2^31-1", 0, 3,
			cat("\xff\xff", "\xff\xff", "\x00\x00\x03\xe8", "\x7f\xff\xff\xff", "\x00"), "TopicData: count 2147483647 of at least 3 bytes each exceeds the 1 bytes left"},
		{"Produce v9: records longer than the bytes left", 0, 9,
			cat("\x00", "\xff\xff", "\x00\x00\x03\xe8", "\x02", "\x02t", "\x02", "\x00\x00\x00\x00", uvar(1<<20+1), "abc"),
			"TopicData: PartitionData: Records: length 1048576 exceeds the 3 bytes left"},
		{"a six-byte uvarint", 18, 3,
			cat("\x80\x80\x80\x80\x80\x01"), "ClientSoftwareName: varint overflows 32 bits"},
		{"a five-byte uvarint over 32 bits", 18, 3,
			cat("\x80\x80\x80\x80\x10"), "ClientSoftwareName: varint overflows 32 bits"},
		{"a truncated uvarint", 18, 3,
			cat("\x80\x80"), "ClientSoftwareName: truncated varint"},
		{"a null non-nullable string", 18, 3,
			cat("\x00", "\x021", "\x00"), "ClientSoftwareName: null, but not nullable"},
		{"a classic string of length -2", 3, 4,
			cat("\x00\x00\x00\x01", "\xff\xfe"), "Topics: Name: negative length -2"},
		{"a classic null array where nullable", 3, 4,
			cat("\xff\xff\xff\xff", "\x01"), ""},
		{"a classic null array where not nullable", 3, 0,
			cat("\xff\xff\xff\xff"), "Topics: null, but not nullable"},
		{"the OffsetForLeaderEpoch v4 reproducer of FuzzServeFrame", 23, 4,
			cat("0000\x02\a000000\x10000000000", strings.Repeat("\x97", 6), "000000"),
			"Topics: Partitions: count 15 of at least 13 bytes each exceeds the 21 bytes left"},
		{"an api version without a schema", 18, 99, nil, "no schema for api key 18 v99"},
	}
	for _, c := range cases {
		err := Request(c.key, c.v, c.body)
		switch {
		case c.wantErr == "" && err != nil:
			t.Errorf("%s: %v", c.name, err)
		case c.wantErr != "" && (err == nil || err.Error() != c.wantErr):
			t.Errorf("%s: got error %v, want %q", c.name, err, c.wantErr)
		}
	}
}

func TestSkipTags(t *testing.T) {
	rest, err := SkipTags(cat("\x02", "\x05\x01x", "\x06\x00", "body"))
	if err != nil || string(rest) != "body" {
		t.Errorf("SkipTags = %q, %v; want body", rest, err)
	}
	if _, err := SkipTags(cat("\xff\xff\xff\xff\x0f", "body")); err == nil {
		t.Error("SkipTags accepted a tag count of 2^32-1 before 4 bytes")
	}
	if _, err := SkipTags(cat("\x01", "\x05\x09", "body")); err == nil {
		t.Error("SkipTags accepted a tag of 9 bytes before 4")
	}
}
