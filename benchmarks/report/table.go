package report

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/riffle/riffle/benchmarks/stats"
)

// WriteTable prints one row per run, then the machine limits and ratios.
func (r *Report) WriteTable(w io.Writer) {
	if r.Machine.Note != "" {
		fmt.Fprintf(w, "Machine: %d CPUs, %s, %s. %s\n", r.Machine.CPUs, r.Machine.Kernel, r.Machine.GoVersion, r.Machine.Note)
	}
	if l := r.Machine.Limits; l != nil {
		fmt.Fprintf(w, "Machine limits (%s each, 1 MiB writes): loopback TCP %.2f GB/s; sequential write %.2f GB/s page cache, %.2f GB/s with fdatasync every 1 MiB\n",
			l.ProbeDuration, l.LoopbackTCPGBps, l.SeqWriteGBps, l.SeqWriteSyncGBps)
	}
	fmt.Fprintln(w, "Throughput over the measured window (after warm-up); latency in ms from the intended send time; MB = 1e6 bytes of record values.")
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "scenario\ttarget\tround\tprod rec/s\tprod MB/s\tcons rec/s\tcons MB/s\tack p50\tp90\tp99\tp99.9\tmax\te2e p50\tp90\tp99\tp99.9\tmax\tbroker CPU s/GB\tpeak RSS MB\terrors\t")
	for _, run := range r.Runs {
		s := run.Summary
		cpu, rss := "-", "-"
		if b := run.Broker; b != nil {
			cpu = fmt.Sprintf("%.2f", b.CPUSecondsPerGB)
			rss = fmt.Sprintf("%.0f", float64(b.PeakRSSBytes)/1e6)
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%.0f\t%.1f\t%.0f\t%.1f\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%d\t\n",
			run.Scenario.Name, run.Target.Name, run.Round,
			s.Produce.RecordsPerSec, s.Produce.MBPerSec, s.Consume.RecordsPerSec, s.Consume.MBPerSec,
			ms(s.Ack.P50), ms(s.Ack.P90), ms(s.Ack.P99), ms(s.Ack.P999), ms(s.Ack.Max),
			ms(s.E2E.P50), ms(s.E2E.P90), ms(s.E2E.P99), ms(s.E2E.P999), ms(s.E2E.Max),
			cpu, rss, s.Errors.Produce+s.Errors.Consume)
	}
	tw.Flush()
	for _, run := range r.Runs {
		if run.Error != "" {
			fmt.Fprintf(w, "%s on %s round %d: %s\n", run.Scenario.Name, run.Target.Name, run.Round, run.Error)
		}
		for _, e := range run.Summary.Errors.Samples {
			fmt.Fprintf(w, "%s on %s round %d error: %s\n", run.Scenario.Name, run.Target.Name, run.Round, e)
		}
	}
	writeStalls(w, r.Runs)
	if len(r.Ratios) > 0 {
		fmt.Fprintln(w, "\nRatios (medians over rounds; throughput: higher is better for the first target; latency, CPU, RSS: lower is better):")
		for _, ra := range r.Ratios {
			fmt.Fprintln(w, "  "+ra.String())
		}
	}
}

func ms(v float64) string {
	switch {
	case v == 0:
		return "-"
	case v < 10:
		return fmt.Sprintf("%.2f", v)
	default:
		return strings.TrimSuffix(fmt.Sprintf("%.1f", v), ".0")
	}
}

// stallsListed is how many stalls per run the table names; the JSON has all.
const stallsListed = 12

// writeStalls names each run's worst second and its acknowledgement
// stalls: when they began, how long they lasted, the worst wait in them.
func writeStalls(w io.Writer, runs []Run) {
	fmt.Fprintf(w, "\nWorst second (highest ack p99) and ack stalls (records waiting over %v; start s: length ms / worst ms):\n", stats.StallThreshold)
	for _, run := range runs {
		s := run.Summary
		line := fmt.Sprintf("  %s on %s round %d:", run.Scenario.Name, run.Target.Name, run.Round)
		if ws := s.WorstSecond; ws != nil {
			line += fmt.Sprintf(" worst second ending at %.0f s: ack p99 %s, max %s;", ws.T, ms(ws.Ack.P99), ms(ws.Ack.Max))
		}
		line += fmt.Sprintf(" %d stalls", len(s.AckStalls))
		if len(s.AckStalls) > 0 {
			var longest stats.Stall
			for _, st := range s.AckStalls {
				if st.Length > longest.Length {
					longest = st
				}
			}
			line += fmt.Sprintf(", longest %s ms at %.1f s:", ms(longest.Length), longest.At)
		}
		for i, st := range s.AckStalls {
			if i == stallsListed {
				line += fmt.Sprintf(" ... (%d more)", len(s.AckStalls)-i)
				break
			}
			line += fmt.Sprintf(" %.1f: %s/%s", st.At, ms(st.Length), ms(st.Worst))
		}
		if s.StallsUnlisted > 0 {
			line += fmt.Sprintf(" (+%d slow records past the harness's bound)", s.StallsUnlisted)
		}
		fmt.Fprintln(w, line)
	}
}
