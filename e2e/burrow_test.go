package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/riffle/riffle/internal/brokertest"
	"github.com/riffle/riffle/internal/testport"
)

// zkServer is Debian's zookeeper package's start script.
const zkServer = "/usr/share/zookeeper/bin/zkServer.sh"

// startLogged starts a program in its own process group with its output in
// dir/name.log, killed (the whole group) when the test ends; the log is
// shown if the test failed.
func startLogged(t *testing.T, dir, name string, env []string, bin string, args ...string) {
	t.Helper()
	logPath := filepath.Join(dir, name+".log")
	logFile, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	defer logFile.Close()
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		_ = cmd.Wait()
		if t.Failed() {
			out, _ := os.ReadFile(logPath)
			t.Logf("%s output:\n%s", name, out)
		}
	})
}

// startZooKeeper runs a throwaway ZooKeeper for Burrow's own coordination
// and returns its client address once it serves sessions ("srvr" shows its
// mode; "ruok" answers before that, and Burrow gives up at once).
func startZooKeeper(t *testing.T, dir string) string {
	t.Helper()
	addr := testport.Addr(t)
	_, port, _ := net.SplitHostPort(addr)
	cfg := filepath.Join(dir, "zoo.cfg")
	text := fmt.Sprintf("tickTime=2000\ndataDir=%s\nclientPort=%s\nclientPortAddress=127.0.0.1\nadmin.enableServer=false\n4lw.commands.whitelist=srvr\n",
		filepath.Join(dir, "zk"), port)
	if err := os.WriteFile(cfg, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	startLogged(t, dir, "zookeeper", []string{"ZOO_LOG_DIR=" + dir}, zkServer, "start-foreground", cfg)
	waitFor(t, time.Minute, "zookeeper serving", func() bool {
		conn, err := net.DialTimeout("tcp", addr, time.Second)
		if err != nil {
			return false
		}
		defer conn.Close()
		_ = conn.SetDeadline(time.Now().Add(time.Second))
		if _, err := conn.Write([]byte("srvr")); err != nil {
			return false
		}
		out, _ := io.ReadAll(conn)
		return strings.Contains(string(out), "Mode: standalone")
	})
	return addr
}

// burrowConfig: the cluster module (topic offsets: ListOffsets) with
// sarama's oldest profile, which asks ListOffsets v0; the consumer module
// reading __consumer_offsets as a 0.11 client, since Fetch below v4 (the
// old message formats) is not served.
const burrowConfig = `[general]
pidfile=%[1]q

[logging]
level="info"

[zookeeper]
servers=[%[2]q]
timeout=6
root-path="/burrow"

[client-profile.old]
client-id="burrow-old"

[client-profile.fetch]
client-id="burrow"
kafka-version="0.11.0"

[cluster.riffle]
class-name="kafka"
servers=[%[3]q]
client-profile="old"
topic-refresh=1
offset-refresh=1

[consumer.riffle]
class-name="kafka"
cluster="riffle"
servers=[%[3]q]
client-profile="fetch"
start-latest=false

[httpserver.default]
address=%[4]q

[storage.default]
class-name="inmemory"
workers=2
intervals=10
expire-group=604800
min-distance=1
`

// TestBurrow runs Debian's Burrow 1.2 against a live broker: it sees the
// topic's offsets and a group's committed offset and lag.
func TestBurrow(t *testing.T) {
	burrow, err := exec.LookPath("Burrow")
	if err != nil {
		t.Skip("Burrow not installed: Debian's burrow and zookeeper packages")
	}
	if _, err := os.Stat(zkServer); err != nil {
		t.Skip("ZooKeeper not installed: Debian's zookeeper package")
	}
	b := brokertest.Start(t)
	cl := newClient(t, b.Addr(), kgo.DefaultProduceTopic("orders"), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	createTopic(t, cl, "orders", 2)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	for range 4 {
		if err := cl.ProduceSync(ctx, &kgo.Record{Value: []byte("v")}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	var offsets kadm.Offsets
	offsets.AddOffset("orders", 0, 2, -1)
	if _, err := kadm.NewClient(cl).CommitOffsets(ctx, "billing", offsets); err != nil {
		t.Fatal(err)
	}

	dir := t.TempDir()
	zk := startZooKeeper(t, dir)
	httpAddr := testport.Addr(t)
	cfg := fmt.Sprintf(burrowConfig, filepath.Join(dir, "burrow.pid"), zk, b.Addr(), httpAddr)
	if err := os.WriteFile(filepath.Join(dir, "burrow.toml"), []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	startLogged(t, dir, "burrow", nil, burrow, "--config-dir", dir)

	get := func(path string, v any) bool {
		resp, err := (&http.Client{Timeout: 2 * time.Second}).Get("http://" + httpAddr + path)
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		return resp.StatusCode == http.StatusOK && json.NewDecoder(resp.Body).Decode(v) == nil
	}
	var topic struct {
		Offsets []int64 `json:"offsets"`
	}
	waitFor(t, time.Minute, "Burrow lists the topic's offsets [4 0]", func() bool {
		return get("/v3/kafka/riffle/topic/orders", &topic) && len(topic.Offsets) == 2 && topic.Offsets[0] == 4 && topic.Offsets[1] == 0
	})
	var lag struct {
		Status struct {
			TotalLag   int64 `json:"totallag"`
			Partitions []struct {
				Topic     string `json:"topic"`
				Partition int32  `json:"partition"`
				End       *struct {
					Offset int64 `json:"offset"`
				} `json:"end"`
				CurrentLag int64 `json:"current_lag"`
			} `json:"partitions"`
		} `json:"status"`
	}
	waitFor(t, time.Minute, "Burrow reports group billing at offset 2 with lag 2", func() bool {
		if !get("/v3/kafka/riffle/consumer/billing/lag", &lag) || lag.Status.TotalLag != 2 {
			return false
		}
		for _, p := range lag.Status.Partitions {
			if p.Topic == "orders" && p.Partition == 0 {
				return p.End != nil && p.End.Offset == 2 && p.CurrentLag == 2
			}
		}
		return false
	})
}
