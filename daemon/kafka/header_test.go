package kafka

import (
	"context"
	"errors"
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/riffle/riffle/internal/kafkatest"
	"github.com/riffle/riffle/netio"
)

var frameFor = kafkatest.Frame

func TestApiVersionsEveryVersion(t *testing.T) {
	b := New(Config{}, nil, nil)
	for v := int16(0); v <= 4; v++ {
		req := kmsg.NewPtrApiVersionsRequest()
		req.SetVersion(v)
		req.ClientSoftwareName, req.ClientSoftwareVersion = "test", "1"
		pieces, err := b.ServeFrame(context.Background(), &netio.Conn{}, frameFor(req, 7))
		if err != nil {
			t.Fatalf("v%d: %v", v, err)
		}
		raw := pieces[0].Bytes
		if corr := int32(raw[0])<<24 | int32(raw[1])<<16 | int32(raw[2])<<8 | int32(raw[3]); corr != 7 {
			t.Fatalf("v%d: correlation id %d", v, corr)
		}
		resp := kmsg.NewPtrApiVersionsResponse()
		resp.SetVersion(v)
		if err := resp.ReadFrom(raw[4:]); err != nil { // ApiVersions has no header tags
			t.Fatalf("v%d: decode: %v", v, err)
		}
		if resp.ErrorCode != 0 || len(resp.ApiKeys) == 0 {
			t.Fatalf("v%d: error %d, %d keys", v, resp.ErrorCode, len(resp.ApiKeys))
		}
	}
}

func TestApiVersionsUnsupportedVersionListsKeys(t *testing.T) {
	b := New(Config{}, nil, nil)
	req := kmsg.NewPtrApiVersionsRequest()
	req.SetVersion(4)
	frame := frameFor(req, 9)
	frame[3] = 99 // version 99
	pieces, err := b.ServeFrame(context.Background(), &netio.Conn{}, frame)
	if err != nil {
		t.Fatal(err)
	}
	resp := kmsg.NewPtrApiVersionsResponse()
	resp.SetVersion(0)
	if err := resp.ReadFrom(pieces[0].Bytes[4:]); err != nil {
		t.Fatal(err)
	}
	// Kafka's answer (KIP-511): ApiVersions' own range only, so that the
	// client retries with a served version instead of taking v0's list.
	if resp.ErrorCode != kerr.UnsupportedVersion.Code || len(resp.ApiKeys) != 1 || resp.ApiKeys[0].ApiKey != 18 || resp.ApiKeys[0].MaxVersion != 4 {
		t.Fatalf("error %d with keys %+v", resp.ErrorCode, resp.ApiKeys)
	}
}

func TestBadFramesCloseTheConnection(t *testing.T) {
	b := New(Config{}, nil, nil)
	meta := kmsg.NewPtrMetadataRequest()
	meta.SetVersion(4)
	unsupported := frameFor(meta, 1)
	unsupported[3] = 100
	unknownKey := frameFor(meta, 1)
	unknownKey[1] = 200
	truncatedBody := frameFor(kmsg.NewPtrApiVersionsRequest(), 1)
	truncatedBody[3] = 3 // v3 is flexible: the body's strings are missing
	for name, frame := range map[string][]byte{
		"empty":            nil,
		"short header":     {0, 18, 0},
		"unknown key":      unknownKey,
		"unsupported":      unsupported,
		"truncated body":   truncatedBody,
		"huge client id":   {0, 18, 0, 0, 0, 0, 0, 1, 0x7f, 0xff},
		"negative version": {0, 18, 0xff, 0xff, 0, 0, 0, 1, 0xff, 0xff},
	} {
		if _, err := b.ServeFrame(context.Background(), &netio.Conn{}, frame); !errors.Is(err, errMalformed) {
			// ApiVersions with a bad version is answered, not closed.
			if name == "negative version" && err == nil {
				continue
			}
			t.Errorf("%s: got %v, want errMalformed", name, err)
		}
	}
}
