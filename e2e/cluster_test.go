package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/riffle/riffle/daemon"
	"github.com/riffle/riffle/internal/brokertest"
)

// clusterWait bounds how long the cluster may take to agree after a change
// (an election, a restart); generous, the machine is shared.
const clusterWait = 60 * time.Second

// nodeMetadata asks one node (and only it) for the metadata of every topic.
func nodeMetadata(ctx context.Context, addr string, opts ...kgo.Opt) (*kmsg.MetadataResponse, error) {
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(addr)}, opts...)...)
	if err != nil {
		return nil, err
	}
	defer cl.Close()
	req := kmsg.NewPtrMetadataRequest()
	req.Topics = nil // all
	resp, err := cl.SeedBrokers()[0].Request(ctx, req)
	if err != nil {
		return nil, err
	}
	return resp.(*kmsg.MetadataResponse), nil
}

// clusterView is what one node says: its brokers, controller and topics.
type clusterView struct {
	brokers    []int32
	controller int32
	topics     map[string]bool
}

func viewOf(ctx context.Context, addr string) (clusterView, error) {
	m, err := nodeMetadata(ctx, addr)
	if err != nil {
		return clusterView{}, err
	}
	v := clusterView{controller: m.ControllerID, topics: map[string]bool{}}
	for _, b := range m.Brokers {
		v.brokers = append(v.brokers, b.NodeID)
	}
	slices.Sort(v.brokers)
	for _, mt := range m.Topics {
		if mt.ErrorCode == 0 && mt.Topic != nil {
			v.topics[*mt.Topic] = true
		}
	}
	return v, nil
}

// waitViews polls every addr until ok accepts all their views at once, or
// fails the test after clusterWait with the last views.
func waitViews(t *testing.T, addrs []string, what string, ok func(vs []clusterView) bool) []clusterView {
	t.Helper()
	deadline := time.Now().Add(clusterWait)
	var last []clusterView
	var lastErr error
	for time.Now().Before(deadline) {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		vs := make([]clusterView, 0, len(addrs))
		lastErr = nil
		for _, a := range addrs {
			v, err := viewOf(ctx, a)
			if err != nil {
				lastErr = fmt.Errorf("%s: %w", a, err)
				break
			}
			vs = append(vs, v)
		}
		cancel()
		if lastErr == nil {
			last = vs
			if ok(vs) {
				return vs
			}
		}
		time.Sleep(50 * time.Millisecond) // a poll interval, not a wait for an event
	}
	t.Fatalf("%s: not after %v; last views %+v, last error %v", what, clusterWait, last, lastErr)
	return nil
}

// agreedController accepts views that name the same live controller and
// the brokers want.
func agreedController(want []int32, alive []int32) func(vs []clusterView) bool {
	return func(vs []clusterView) bool {
		for _, v := range vs {
			if !slices.Equal(v.brokers, want) || v.controller != vs[0].controller || !slices.Contains(alive, v.controller) {
				return false
			}
		}
		return true
	}
}

// createOne creates topic (one partition) through cl, which sends it to
// the controller; err is nil only for an acknowledged create.
func createOne(ctx context.Context, cl *kgo.Client, topic string) error {
	return createWith(ctx, cl, topic, 1, 1)
}

// createWith creates topic with partitions and replication factor rf
// through cl; err is nil only for an acknowledged create.
func createWith(ctx context.Context, cl *kgo.Client, topic string, partitions int32, rf int16) error {
	req := kmsg.NewPtrCreateTopicsRequest()
	rt := kmsg.NewCreateTopicsRequestTopic()
	rt.Topic, rt.NumPartitions, rt.ReplicationFactor = topic, partitions, rf
	req.Topics = append(req.Topics, rt)
	req.TimeoutMillis = 10_000
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		return err
	}
	return kerr.ErrorForCode(resp.Topics[0].ErrorCode)
}

func hasAll(v clusterView, topics []string) bool {
	for _, tp := range topics {
		if !v.topics[tp] {
			return false
		}
	}
	return true
}

// TestClusterThreeNodes runs three voters as real processes: every node
// reports the same brokers and controller; topics created through one
// node show on all; kill -9 of the active controller while topics are
// being created elects a new one (the time is logged) and loses no
// acknowledged create; a restart of all three keeps the topics; a
// minority cannot create topics.
func TestClusterThreeNodes(t *testing.T) {
	c := brokertest.StartCluster(t, 3)
	all := []int32{1, 2, 3}
	addrs := c.Addrs()
	views := waitViews(t, addrs, "three brokers and one controller on every node", agreedController(all, all))
	t.Logf("controller %d, brokers %v", views[0].controller, views[0].brokers)

	// The quorum as riffle cluster describe shows it.
	var desc struct {
		ControllerID int32 `json:"controller_id"`
		Quorum       struct {
			LeaderID int32 `json:"leader_id"`
			Voters   []struct {
				ID int32 `json:"id"`
			} `json:"voters"`
		} `json:"quorum"`
		Brokers []struct {
			ID   int32  `json:"id"`
			Role string `json:"role"`
		} `json:"brokers"`
	}
	out := ok(t, addrs[2], "", "cluster", "describe", "--json")
	if err := json.Unmarshal([]byte(out), &desc); err != nil {
		t.Fatalf("cluster describe --json: %v\n%s", err, out)
	}
	if desc.Quorum.LeaderID != views[0].controller || len(desc.Quorum.Voters) != 3 || len(desc.Brokers) != 3 {
		t.Fatalf("cluster describe: %s", out)
	}

	// Created through node 1, seen by nodes 2 and 3.
	onA := newClient(t, addrs[0])
	for i := range 3 {
		createTopic(t, onA, fmt.Sprintf("through-a-%d", i), 2)
	}
	waitViews(t, addrs, "topics created through node 1 on every node", func(vs []clusterView) bool {
		for _, v := range vs {
			if !hasAll(v, []string{"through-a-0", "through-a-1", "through-a-2"}) {
				return false
			}
		}
		return true
	})

	for _, a := range addrs {
		checkKcatMetadata(t, a, views[0].controller, "through-a-0")
	}

	acked := killControllerWhileCreating(t, c, views[0].controller)

	// All three restarted together: the topics come back.
	c.StopAll()
	c.StartAll()
	waitViews(t, addrs, "every acknowledged topic after restarting all three", func(vs []clusterView) bool {
		if !agreedController(all, all)(vs) {
			return false
		}
		for _, v := range vs {
			if !hasAll(v, acked) || !v.topics["through-a-0"] {
				return false
			}
		}
		return true
	})

	// A minority (one node of three) cannot create a topic.
	c.Node(1).Kill()
	c.Node(2).Kill()
	lone := newClient(t, addrs[2], kgo.RetryTimeout(10*time.Second))
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := createOne(ctx, lone, "minority"); err == nil {
		t.Fatal("a minority of one node acknowledged a topic creation")
	} else {
		t.Logf("minority create refused: %v", err)
	}
	if v, err := viewOf(context.Background(), addrs[2]); err == nil && v.topics["minority"] {
		t.Fatal("the minority's metadata shows the topic it could not create")
	}
}

// killControllerWhileCreating creates topics in a loop through a client
// of all three nodes, kills the active controller with SIGKILL midway, and
// checks that a new controller is elected and that every acknowledged
// topic exists on both survivors. It returns the acknowledged topics.
func killControllerWhileCreating(t *testing.T, c *brokertest.Cluster, controller int32) []string {
	t.Helper()
	addrs := c.Addrs()
	cl := newClient(t, addrs[0], kgo.SeedBrokers(addrs...), kgo.RetryTimeout(20*time.Second))
	var (
		mu     sync.Mutex
		acked  []string
		failed []string
	)
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			topic := fmt.Sprintf("load-%04d", i)
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			err := createOne(ctx, cl, topic)
			cancel()
			mu.Lock()
			if err == nil {
				acked = append(acked, topic)
			} else {
				failed = append(failed, fmt.Sprintf("%s: %v", topic, err))
			}
			mu.Unlock()
		}
	}()
	count := func() int {
		mu.Lock()
		defer mu.Unlock()
		return len(acked)
	}
	waitFor(t, clusterWait, "20 topics created before the kill", func() bool { return count() >= 20 })

	killed := time.Now()
	c.Node(controller).Kill()
	var survivors []string
	for id := int32(1); id <= 3; id++ {
		if id != controller {
			survivors = append(survivors, c.Node(id).Addr())
		}
	}
	views := waitViews(t, survivors, "a new controller after the kill", func(vs []clusterView) bool {
		return vs[0].controller >= 0 && vs[0].controller != controller && vs[0].controller == vs[1].controller
	})
	elected := time.Since(killed)
	before := count()
	waitFor(t, clusterWait, "10 more topics created after the kill", func() bool { return count() >= before+10 })
	firstAcks := time.Since(killed)
	close(stop)
	<-done
	t.Logf("killed controller %d: controller %d elected after %v (as seen through Metadata); creates acknowledged again within %v",
		controller, views[0].controller, elected.Round(time.Millisecond), firstAcks.Round(time.Millisecond))
	mu.Lock()
	got := slices.Clone(acked)
	t.Logf("%d creates acknowledged, %d failed or ambiguous: %v", len(acked), len(failed), failed)
	mu.Unlock()

	vs := waitViews(t, survivors, "every acknowledged topic on both survivors", func(vs []clusterView) bool {
		return hasAll(vs[0], got) && hasAll(vs[1], got)
	})
	if len(vs[0].topics) != len(vs[1].topics) {
		t.Fatalf("survivors disagree: %d and %d topics", len(vs[0].topics), len(vs[1].topics))
	}
	// The killed node comes back and catches up.
	c.Node(controller).Restart()
	waitViews(t, addrs, "the restarted node has every acknowledged topic", func(vs []clusterView) bool {
		for _, v := range vs {
			if !hasAll(v, got) {
				return false
			}
		}
		return true
	})
	return got
}

// checkKcatMetadata checks what kcat (librdkafka) sees through addr: three
// brokers, the controller, and topic's two partitions each with a leader
// among its replicas and ISR.
func checkKcatMetadata(t *testing.T, addr string, controller int32, topic string) {
	t.Helper()
	type replica struct {
		ID int32 `json:"id"`
	}
	var meta struct {
		ControllerID int32 `json:"controllerid"`
		Brokers      []struct {
			ID int32 `json:"id"`
		} `json:"brokers"`
		Topics []struct {
			Topic      string `json:"topic"`
			Partitions []struct {
				Leader   int32     `json:"leader"`
				Replicas []replica `json:"replicas"`
				ISRs     []replica `json:"isrs"`
			} `json:"partitions"`
		} `json:"topics"`
	}
	out := run(t, "", "kcat", "-b", addr, "-L", "-J", "-t", topic)
	if err := json.Unmarshal([]byte(out), &meta); err != nil {
		t.Fatalf("kcat -L -J: %v\n%s", err, out)
	}
	if len(meta.Brokers) != 3 || meta.ControllerID != controller || len(meta.Topics) != 1 || len(meta.Topics[0].Partitions) != 2 {
		t.Fatalf("kcat -L through %s: %s", addr, out)
	}
	for _, p := range meta.Topics[0].Partitions {
		if len(p.Replicas) != 1 || p.Replicas[0].ID != p.Leader || len(p.ISRs) != 1 || p.ISRs[0].ID != p.Leader {
			t.Fatalf("kcat -L through %s: partition %+v", addr, p)
		}
	}
}

// TestClusterBadConfig: a bad voter list stops the broker at start with
// exit 2 and a message naming the key.
func TestClusterBadConfig(t *testing.T) {
	bin := brokertest.Binary(t)
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"duplicate id", []string{"--set", "cluster.voters=1@127.0.0.1:9192,1@127.0.0.1:9292", "--set", "cluster.listen=127.0.0.1:9192"},
			"cluster.voters = \"1@127.0.0.1:9192,1@127.0.0.1:9292\": node id 1 appears twice"},
		{"not a voter", []string{"--node-id", "4", "--set", "cluster.voters=1@127.0.0.1:9192,2@127.0.0.1:9292,3@127.0.0.1:9392", "--set", "cluster.listen=127.0.0.1:9492"},
			"broker.node_id 4 is not in cluster.voters"},
		{"voter without listener", []string{"--set", "cluster.voters=1@127.0.0.1:9192,2@127.0.0.1:9292,3@127.0.0.1:9392"},
			"cluster.listen = \"\": must be set: broker.node_id 1 is a voter"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := runBroker(t, bin, nil, append([]string{"--data-dir", t.TempDir(), "--listen", "127.0.0.1:0", "--admin-listen", "127.0.0.1:0"}, tc.args...)...)
			if r.ready || r.code != daemon.ExitUsage || !strings.Contains(r.stderr, tc.want) {
				t.Fatalf("ready %v, exit %d, want exit %d and %q\nstderr:\n%s", r.ready, r.code, daemon.ExitUsage, tc.want, r.stderr)
			}
		})
	}
}

// syncBuffer collects a process's output while the test reads it.
type syncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestClusterNoQuorumAtStart: one voter of three, alone, says it waits for
// the quorum, keeps /readyz at 503 and keeps running; SIGTERM stops it
// cleanly.
func TestClusterNoQuorumAtStart(t *testing.T) {
	// Cluster listeners of 1..3, then the admin listener: free ports,
	// nobody answers on 2 and 3.
	var addrs []string
	var held []net.Listener
	for range 4 {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		held = append(held, ln)
		addrs = append(addrs, ln.Addr().String())
	}
	for _, ln := range held {
		ln.Close()
	}
	cmd := exec.Command(brokertest.Binary(t), "--data-dir", t.TempDir(), "--listen", "127.0.0.1:0", "--admin-listen", addrs[3],
		"--set", fmt.Sprintf("cluster.voters=1@%s,2@%s,3@%s", addrs[0], addrs[1], addrs[2]), "--set", "cluster.listen="+addrs[0])
	var out syncBuffer
	cmd.Stdout, cmd.Stderr = &out, &out
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() { _ = cmd.Process.Kill() })
	waitFor(t, clusterWait, "the waiting log line and /readyz 503", func() bool {
		resp, err := (&http.Client{Timeout: 5 * time.Second}).Get("http://" + addrs[3] + "/readyz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusServiceUnavailable {
			t.Fatalf("/readyz %d without a quorum", resp.StatusCode)
		}
		return strings.Contains(out.String(), "riffle: waiting for the metadata quorum")
	})
	select {
	case err := <-exited:
		t.Fatalf("exited without a quorum: %v\n%s", err, out.String())
	default:
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-exited:
		if err != nil {
			t.Fatalf("exit after SIGTERM: %v\n%s", err, out.String())
		}
	case <-time.After(brokertest.StopTimeout):
		t.Fatalf("still running after SIGTERM\n%s", out.String())
	}
}
