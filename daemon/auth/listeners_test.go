package auth

import (
	"strings"
	"testing"
)

func TestParseListeners(t *testing.T) {
	ls, err := ParseListeners("PLAINTEXT://127.0.0.1:9092, sasl_ssl://:9093,INTERNAL://10.0.0.1:9094", "INTERNAL:SSL")
	if err != nil {
		t.Fatal(err)
	}
	want := []Listener{{"PLAINTEXT", Plaintext, "127.0.0.1:9092"}, {"SASL_SSL", SASLSSL, ":9093"}, {"INTERNAL", SSL, "10.0.0.1:9094"}}
	if len(ls) != len(want) {
		t.Fatalf("got %+v", ls)
	}
	for i := range want {
		if ls[i] != want[i] {
			t.Errorf("listener %d = %+v, want %+v", i, ls[i], want[i])
		}
	}
	if !SASLSSL.TLS() || !SASLSSL.SASL() || SSL.SASL() || SASLPlaintext.TLS() || Plaintext.TLS() {
		t.Error("protocol TLS/SASL flags wrong")
	}
	for _, bad := range []struct{ listeners, protoMap, msg string }{
		{"", "", "no listener"},
		{"EXTERNAL://:9092", "", "no security protocol"},
		{"PLAINTEXT://:9092,PLAINTEXT://:9093", "", "twice"},
		{"PLAINTEXT://:9092,SSL://:9092", "", "both bind"},
		{"PLAINTEXT:9092", "", "NAME://host:port"},
		{"PLAINTEXT://:99999", "", "port"},
		{"X://:1", "X:TLS", "PROTOCOL one of"},
	} {
		if _, err := ParseListeners(bad.listeners, bad.protoMap); err == nil || !strings.Contains(err.Error(), bad.msg) {
			t.Errorf("ParseListeners(%q, %q) = %v, want an error with %q", bad.listeners, bad.protoMap, err, bad.msg)
		}
	}
}

func TestParseAdvertised(t *testing.T) {
	ls, _ := ParseListeners("PLAINTEXT://:9092,SSL://:9093", "")
	adv, err := ParseAdvertised("ssl://kafka.example:19093", ls)
	if err != nil || adv["SSL"] != (Endpoint{"kafka.example", 19093}) || len(adv) != 1 {
		t.Fatalf("got %v, %v", adv, err)
	}
	for _, bad := range []string{"OTHER://h:1", "SSL://:9093", "SSL://h:0", "SSL:h:1"} {
		if _, err := ParseAdvertised(bad, ls); err == nil {
			t.Errorf("ParseAdvertised(%q) accepted", bad)
		}
	}
}
