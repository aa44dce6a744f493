package e2e

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/riffle/riffle/internal/brokertest"
)

// scrape reads the broker's /metrics into name{labels} → value.
func scrape(t testing.TB, adminAddr string) map[string]float64 {
	t.Helper()
	body := httpGet(t, "http://"+adminAddr+"/metrics", http.StatusOK)
	out := map[string]float64{}
	sc := bufio.NewScanner(strings.NewReader(body))
	for sc.Scan() {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			t.Fatalf("metrics line %q: %v", line, err)
		}
		out[line[:i]] = v
	}
	return out
}

func httpGet(t testing.TB, url string, wantStatus int) string {
	t.Helper()
	client := http.Client{Timeout: ioTimeout}
	resp, err := client.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != wantStatus {
		t.Fatalf("GET %s: %d %s, want %d", url, resp.StatusCode, body, wantStatus)
	}
	return string(body)
}

// brokerCPUSeconds is the broker process's user+system CPU time so far.
func brokerCPUSeconds(t testing.TB, pid int) float64 {
	t.Helper()
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		t.Fatal(err)
	}
	// Fields after the parenthesised command name; utime and stime are
	// fields 14 and 15 of the whole line, in clock ticks (USER_HZ = 100).
	fields := strings.Fields(string(stat[strings.LastIndexByte(string(stat), ')')+2:]))
	utime, _ := strconv.ParseFloat(fields[11], 64)
	stime, _ := strconv.ParseFloat(fields[12], 64)
	return (utime + stime) / 100
}

// TestMetricsFollowTraffic scrapes /metrics around a produce and a consume:
// the partition's offsets follow the records and fetched record bytes go out
// by sendfile.
func TestMetricsFollowTraffic(t *testing.T) {
	b := brokertest.Start(t)
	if httpGet(t, "http://"+b.AdminAddr()+"/healthz", http.StatusOK) == "" || httpGet(t, "http://"+b.AdminAddr()+"/readyz", http.StatusOK) == "" {
		t.Fatal("empty health answers")
	}
	const topic, records = "metrics", 2000
	createTopic(t, newClient(t, b.Addr()), topic, 1)
	before := scrape(t, b.AdminAddr())

	cl := newClient(t, b.Addr(), kgo.ProducerLinger(20*time.Millisecond), kgo.ProducerBatchCompression(kgo.NoCompression()))
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var rs []*kgo.Record
	for i := 0; i < records; i++ {
		rs = append(rs, &kgo.Record{Topic: topic, Value: make([]byte, 1024)})
	}
	if err := cl.ProduceSync(ctx, rs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
	leo := `riffle_partition_log_end_offset{topic="metrics",partition="0"}`
	if got := scrape(t, b.AdminAddr())[leo]; got != records {
		t.Fatalf("%s = %v, want %d", leo, got, records)
	}
	got := consumeEverything(t, b.Addr(), topic)
	if len(got) != records {
		t.Fatalf("consumed %d records, want %d", len(got), records)
	}
	after := scrape(t, b.AdminAddr())
	sent := after["riffle_netio_sendfile_bytes_total"] - before["riffle_netio_sendfile_bytes_total"]
	if sent < records*1024 {
		t.Fatalf("sendfile bytes grew by %v (copied %v), want at least the %d record bytes fetched", sent, after["riffle_netio_copied_bytes_total"]-before["riffle_netio_copied_bytes_total"], records*1024)
	}
	if after["riffle_partition_size_bytes{topic=\"metrics\",partition=\"0\"}"] < records*1024 {
		t.Fatalf("partition size %v", after[`riffle_partition_size_bytes{topic="metrics",partition="0"}`])
	}
}
