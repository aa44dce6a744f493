package chaos

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"time"
)

// Nemeses the tool injects, as -nemesis names them.
const (
	NemesisKill      = "kill"      // kill -9 of a random node, the partition leader or the controller; restarted after the hold
	NemesisPause     = "pause"     // SIGSTOP, SIGCONT after the hold
	NemesisPartition = "partition" // majority/minority, one node isolated, a bridge, or a partition leader's Kafka port
	NemesisLoss      = "loss"      // random packet loss on one node's link
	NemesisDelay     = "delay"     // delay and jitter on one node's link (needs sch_netem)
)

// Nemeses lists every nemesis name, for -nemesis all.
var Nemeses = []string{NemesisKill, NemesisPause, NemesisPartition, NemesisLoss, NemesisDelay}

// Fault is one fault as planned and as injected.
type Fault struct {
	Kind   string  `json:"kind"`
	Target string  `json:"target"` // which variant: random-node, partition-leader, controller, majority-minority, isolate, bridge
	Nodes  []int   `json:"nodes"`  // node ids acted on
	Detail string  `json:"detail"` // e.g. the links cut, the loss rate
	Start  float64 `json:"start_s"`
	// Injected is when the fault was in place (a kill had reaped the
	// process, the rules were loaded); records sent before it may have
	// slipped through.
	Injected float64 `json:"injected_s"`
	End      float64 `json:"end_s"`
	// RecoveryS is the time from Start until every partition acknowledged
	// a record sent after Injected; -1 if that never happened in the run.
	RecoveryS float64 `json:"recovery_s"`
	Error     string  `json:"error,omitempty"`
	// Kept faults are not healed after their hold but at the final heal,
	// so later faults pile on them.
	Kept bool `json:"kept,omitempty"`

	hold, gap time.Duration
	pick      uint64 // the seeded choices the variant makes at injection
}

// schedule plans the faults of a run from the seed: a quiet lead-in, then
// fault, hold, heal, quiet gap, until the run's end. Which node a variant
// hits is drawn from the same seed, except where it depends on the
// cluster's state then (the partition leader, the controller).
func schedule(seed uint64, nemeses []string, nodes int, duration time.Duration) []Fault {
	rng := rand.New(rand.NewPCG(seed, 0x5eed))
	lead := min(10*time.Second, duration/6)
	var out []Fault
	at := lead
	for {
		f := Fault{Kind: nemeses[rng.IntN(len(nemeses))],
			hold: time.Duration(3+rng.IntN(8)) * time.Second,
			gap:  time.Duration(4+rng.IntN(6)) * time.Second,
			pick: rng.Uint64()}
		switch f.Kind {
		case NemesisKill:
			f.Target = []string{"random-node", "partition-leader", "controller"}[rng.IntN(3)]
		case NemesisPartition:
			f.Target = []string{"majority-minority", "isolate", "bridge", "replication"}[rng.IntN(4)]
		default:
			f.Target = "random-node"
		}
		if at+f.hold > duration {
			return out
		}
		f.Start = at.Seconds()
		out = append(out, f)
		at += f.hold + f.gap
	}
}

// nemesis injects faults into a cluster.
type nemesis struct {
	c     *cluster
	adm   admin
	topic string
	start time.Time
	netem bool
}

// run injects the schedule in real time; each fault is healed after its
// hold. It returns the faults as injected, when the schedule ends or ctx
// is done (the caller heals everything after).
func (nm *nemesis) run(ctx context.Context, plan []Fault, log func(string)) []Fault {
	var done []Fault
	for _, f := range plan {
		at := nm.start.Add(time.Duration(f.Start * float64(time.Second)))
		if !sleepUntil(ctx, at) {
			return done
		}
		f.Start = time.Since(nm.start).Seconds()
		heal, err := nm.inject(ctx, &f)
		f.Injected = time.Since(nm.start).Seconds()
		if err != nil {
			f.Error = err.Error()
		}
		log(fmt.Sprintf("%6.1fs %s %s nodes %v %s %s", f.Start, f.Kind, f.Target, f.Nodes, f.Detail, f.Error))
		sleepUntil(ctx, time.Now().Add(f.hold))
		if heal != nil && !f.Kept {
			if err := heal(context.WithoutCancel(ctx)); err != nil {
				f.Error = strings.TrimSpace(f.Error + "; heal: " + err.Error())
			}
		}
		f.End = time.Since(nm.start).Seconds()
		if f.Kept {
			log(fmt.Sprintf("%6.1fs %s kept until the final heal", f.End, f.Kind))
		} else {
			log(fmt.Sprintf("%6.1fs healed %s", f.End, f.Kind))
		}
		done = append(done, f)
	}
	return done
}

func sleepUntil(ctx context.Context, t time.Time) bool {
	select {
	case <-ctx.Done():
		return false
	case <-time.After(time.Until(t)):
		return true
	}
}

// inject starts the fault and returns how to heal it.
func (nm *nemesis) inject(ctx context.Context, f *Fault) (func(context.Context) error, error) {
	n := len(nm.c.nodes)
	rng := rand.New(rand.NewPCG(f.pick, 0))
	switch f.Kind {
	case NemesisKill:
		i, err := nm.target(ctx, f.Target, rng)
		if err != nil {
			return nil, err
		}
		f.Nodes = []int{i + 1}
		if err := nm.c.kill(i); err != nil {
			return nil, err
		}
		return func(context.Context) error { return nm.c.start(i) }, nil
	case NemesisPause:
		i := rng.IntN(n)
		f.Nodes = []int{i + 1}
		if err := nm.c.signal(i, true); err != nil {
			return nil, err
		}
		return func(context.Context) error { return nm.c.signal(i, false) }, nil
	case NemesisPartition:
		if f.Target == "replication" {
			// Replica fetches between a partition's leader and the other
			// nodes fail (Kafka port cut both ways), while the cluster
			// port, so the controller, still answers: ISRs shrink.
			i, err := nm.target(ctx, "partition-leader", rng)
			if err != nil {
				return nil, err
			}
			var pairs [][2]int
			for j := range n {
				if j != i {
					pairs = append(pairs, [2]int{i, j})
				}
			}
			f.Nodes, f.Detail = []int{i + 1}, fmt.Sprintf("Kafka-port (%d) traffic between node %d and the other nodes dropped", kafkaPort, i+1)
			return nm.c.net.Heal, nm.c.net.Cut(ctx, pairs, kafkaPort)
		}
		pairs, desc := split(f.Target, rng.Perm(n))
		f.Detail = desc
		for _, p := range pairs {
			f.Nodes = append(f.Nodes, p[0]+1, p[1]+1)
		}
		slices.Sort(f.Nodes)
		f.Nodes = slices.Compact(f.Nodes)
		return nm.c.net.Heal, nm.c.net.Cut(ctx, pairs, 0)
	case NemesisLoss:
		i, pct := rng.IntN(n), float64(10+rng.IntN(31))
		f.Nodes, f.Detail = []int{i + 1}, fmt.Sprintf("%.0f%% loss", pct)
		return nm.c.net.Heal, nm.c.net.Loss(ctx, i, pct)
	case NemesisDelay:
		i := rng.IntN(n)
		delay := time.Duration(50+rng.IntN(200)) * time.Millisecond
		f.Nodes, f.Detail = []int{i + 1}, fmt.Sprintf("delay %v ± %v", delay, delay/4)
		if !nm.netem {
			return nil, errors.New("not injected: this kernel has no netem qdisc (sch_netem)")
		}
		return nm.c.net.Heal, nm.c.net.Delay(ctx, i, delay, delay/4)
	}
	return nil, fmt.Errorf("unknown nemesis %q", f.Kind)
}

// target picks the node a kill hits: at random, the leader of a random
// partition, or the active controller, as the cluster says now.
func (nm *nemesis) target(ctx context.Context, target string, rng *rand.Rand) (int, error) {
	n := len(nm.c.nodes)
	if target == "random-node" {
		return rng.IntN(n), nil
	}
	mctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	ctrl, parts, err := nm.adm.metadata(mctx, nm.topic)
	if err != nil || len(parts) == 0 {
		// The cluster cannot say now: fall back to a random node, noted.
		return rng.IntN(n), nil
	}
	id := ctrl
	if target == "partition-leader" {
		id = parts[int32(rng.IntN(len(parts)))].leader
	}
	if id < 1 || int(id) > n {
		return rng.IntN(n), nil
	}
	return int(id) - 1, nil
}

// split returns the node pairs (0-based) to cut for a partition variant,
// from a random permutation of the nodes, and a description.
func split(target string, perm []int) ([][2]int, string) {
	n := len(perm)
	var a, b []int
	switch target {
	case "isolate":
		a, b = perm[:1], perm[1:]
	case "bridge":
		// Two sides that cannot talk to each other, both talking to the
		// middle node.
		mid := n / 2
		a, b = perm[:mid], perm[mid+1:]
	default: // majority-minority
		a, b = perm[:n/2], perm[n/2:]
	}
	var pairs [][2]int
	for _, x := range a {
		for _, y := range b {
			pairs = append(pairs, [2]int{x, y})
		}
	}
	return pairs, fmt.Sprintf("%v | %v", ids(a), ids(b))
}

func ids(idx []int) []int {
	out := make([]int, len(idx))
	for i, x := range idx {
		out[i] = x + 1
	}
	slices.Sort(out)
	return out
}
