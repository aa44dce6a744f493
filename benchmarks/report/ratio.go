package report

import (
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
)

// Num is a figure that may be undefined (NaN), written as null in JSON.
type Num float64

// MarshalJSON implements json.Marshaler.
func (n Num) MarshalJSON() ([]byte, error) {
	if math.IsNaN(float64(n)) || math.IsInf(float64(n), 0) {
		return []byte("null"), nil
	}
	return strconv.AppendFloat(nil, float64(n), 'g', 6, 64), nil
}

// Figures are the medians over a target's rounds of one scenario.
type Figures struct {
	ProduceMBps Num `json:"produce_mb_per_sec"`
	ConsumeMBps Num `json:"consume_mb_per_sec"`
	AckP99      Num `json:"ack_p99_ms"`
	E2EP99      Num `json:"e2e_p99_ms"`
	CPUPerGB    Num `json:"broker_cpu_s_per_gb"`
	PeakRSSMB   Num `json:"broker_peak_rss_mb"`
}

// Ratio compares Subject with Other on one scenario: each field of Ratio is
// Subject's figure divided by Other's (NaN, written as null, if undefined).
type Ratio struct {
	Scenario string  `json:"scenario"`
	Subject  string  `json:"subject"`
	Other    string  `json:"other"`
	Subj     Figures `json:"subject_figures"`
	Oth      Figures `json:"other_figures"`
	Ratio    Figures `json:"ratio"`
}

// Ratios compares the subject target with every other target, per scenario.
func Ratios(runs []Run, subject string) []Ratio {
	r := Report{Runs: runs}
	var out []Ratio
	for _, sc := range r.scenarios() {
		subj, ok := medians(runs, sc, subject)
		if !ok {
			continue
		}
		for _, other := range targetNames(runs) {
			if other == subject {
				continue
			}
			oth, ok := medians(runs, sc, other)
			if !ok {
				continue
			}
			out = append(out, Ratio{Scenario: sc, Subject: subject, Other: other, Subj: subj, Oth: oth, Ratio: Figures{
				ProduceMBps: div(subj.ProduceMBps, oth.ProduceMBps),
				ConsumeMBps: div(subj.ConsumeMBps, oth.ConsumeMBps),
				AckP99:      div(subj.AckP99, oth.AckP99),
				E2EP99:      div(subj.E2EP99, oth.E2EP99),
				CPUPerGB:    div(subj.CPUPerGB, oth.CPUPerGB),
				PeakRSSMB:   div(subj.PeakRSSMB, oth.PeakRSSMB),
			}})
		}
	}
	return out
}

func targetNames(runs []Run) []string {
	var names []string
	for _, run := range runs {
		if !slices.Contains(names, run.Target.Name) {
			names = append(names, run.Target.Name)
		}
	}
	return names
}

func medians(runs []Run, scenario, target string) (Figures, bool) {
	var cols [6][]float64
	for _, run := range runs {
		if run.Scenario.Name != scenario || run.Target.Name != target || run.Error != "" && run.Summary.Produce.Records == 0 {
			continue
		}
		s := run.Summary
		vals := [6]float64{s.Produce.MBPerSec, s.Consume.MBPerSec, s.Ack.P99, s.E2E.P99, math.NaN(), math.NaN()}
		if b := run.Broker; b != nil {
			vals[4], vals[5] = b.CPUSecondsPerGB, float64(b.PeakRSSBytes)/1e6
		}
		for i, v := range vals {
			cols[i] = append(cols[i], v)
		}
	}
	if len(cols[0]) == 0 {
		return Figures{}, false
	}
	var f [6]Num
	for i, c := range cols {
		f[i] = Num(median(c))
	}
	return Figures{f[0], f[1], f[2], f[3], f[4], f[5]}, true
}

func median(v []float64) float64 {
	v = slices.DeleteFunc(slices.Clone(v), math.IsNaN)
	if len(v) == 0 {
		return math.NaN()
	}
	slices.Sort(v)
	if len(v)%2 == 1 {
		return v[len(v)/2]
	}
	return (v[len(v)/2-1] + v[len(v)/2]) / 2
}

func div(a, b Num) Num {
	if b == 0 {
		return Num(math.NaN())
	}
	return a / b
}

// String is the ratio as one line of the table.
func (r Ratio) String() string {
	var sb strings.Builder
	fmt.Fprintf(&sb, "%s: %s/%s", r.Scenario, r.Subject, r.Other)
	for _, f := range []struct {
		name string
		v    Num
	}{
		{"produce MB/s", r.Ratio.ProduceMBps}, {"consume MB/s", r.Ratio.ConsumeMBps},
		{"ack p99", r.Ratio.AckP99}, {"e2e p99", r.Ratio.E2EP99},
		{"broker CPU s/GB", r.Ratio.CPUPerGB}, {"broker peak RSS", r.Ratio.PeakRSSMB},
	} {
		if math.IsNaN(float64(f.v)) {
			fmt.Fprintf(&sb, "  %s n/a", f.name)
		} else {
			fmt.Fprintf(&sb, "  %s %.2f×", f.name, f.v)
		}
	}
	return sb.String()
}
