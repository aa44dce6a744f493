package main

import (
	"bytes"
	"os"
	"testing"
)

// TestTableIsFresh regenerates the table from $KAFKA_PROTOCOL (the
// directory of Kafka's *Request.json, outside this repo) and compares it
// with the committed one.
func TestTableIsFresh(t *testing.T) {
	dir := os.Getenv("KAFKA_PROTOCOL")
	if dir == "" {
		t.Skip("KAFKA_PROTOCOL is not set")
	}
	got, err := generate(dir)
	if err != nil {
		t.Fatal(err)
	}
	want, err := os.ReadFile("../schema_gen.go")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Error("schema_gen.go is stale: run go generate in kafkawire/wirecheck")
	}
}

func TestStripComments(t *testing.T) {
	in := "{ // a comment\n \"about\": \"see http://x // y\", \"q\": \"a\\\"//b\" // end\n}"
	want := "{ \n \"about\": \"see http://x // y\", \"q\": \"a\\\"//b\" \n}"
	if got := string(stripComments([]byte(in))); got != want {
		t.Errorf("stripComments = %q, want %q", got, want)
	}
}

func TestVersions(t *testing.T) {
	for in, want := range map[string]string{
		"": "vrange{}", "none": "vrange{}", "3+": "vrange{3, open}", "0-11": "vrange{0, 12}", "7": "vrange{7, 8}",
	} {
		if got, err := versions(in); err != nil || got != want {
			t.Errorf("versions(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	if _, err := versions("5-2"); err == nil {
		t.Error(`versions("5-2") succeeded`)
	}
}
