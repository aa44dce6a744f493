package report

import (
	"fmt"
	"image/color"
	"math"
	"os"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"

	"github.com/riffle/riffle/benchmarks/stats"
)

// line is one labelled series of a panel.
type line struct {
	label string
	xy    plotter.XYs
}

// panel is one plot of a stacked image.
type panel struct {
	title, yLabel string
	logY          bool
	lines         []line
	bands         []Band
}

// Band is a time span shaded behind a panel's lines, e.g. an injected fault.
type Band struct {
	Label    string  // the legend groups bands by label
	From, To float64 // seconds since start
}

// PlotTimeline draws a run's throughput and latency over time with the
// bands (faults) shaded behind both panels.
func PlotTimeline(path, title string, series []stats.Point, bands []Band) error {
	thr := panel{title: title + ": throughput", yLabel: "records/s", bands: bands, lines: []line{
		{"acknowledged", rates(series, func(p stats.Point) float64 { return p.Produce.RecordsPerSec })},
		{"consumed (all readers)", rates(series, func(p stats.Point) float64 { return p.Consume.RecordsPerSec })},
	}}
	lat := panel{title: "ack latency from intended send time", yLabel: "ms (log)", logY: true, bands: bands, lines: []line{
		{"ack p50", points(series, func(p stats.Point) (float64, bool) { return p.Ack.P50, p.Ack.Count > 0 })},
		{"ack p99", points(series, func(p stats.Point) (float64, bool) { return p.Ack.P99, p.Ack.Count > 0 })},
		{"ack max", points(series, func(p stats.Point) (float64, bool) { return p.Ack.Max, p.Ack.Count > 0 })},
	}}
	return savePanels(path, []panel{thr, lat})
}

// PlotRun draws a run's throughput and latency percentiles over time.
func PlotRun(path string, run Run) error {
	series := run.Summary.Series
	title := fmt.Sprintf("%s on %s (round %d)", run.Scenario.Name, run.Target.Name, run.Round)
	thr := panel{title: title + ": throughput", yLabel: "MB/s", lines: []line{
		{"produce (acknowledged)", points(series, func(p stats.Point) (float64, bool) { return p.Produce.MBPerSec, true })},
		{"consume", points(series, func(p stats.Point) (float64, bool) { return p.Consume.MBPerSec, true })},
	}}
	lat := panel{title: "latency from intended send time (after warm-up)", yLabel: "ms (log)", logY: true}
	for _, q := range []struct {
		name string
		get  func(stats.Latency) float64
	}{
		{"p50", func(l stats.Latency) float64 { return l.P50 }},
		{"p99", func(l stats.Latency) float64 { return l.P99 }},
		{"max", func(l stats.Latency) float64 { return l.Max }},
	} {
		lat.lines = append(lat.lines,
			line{"ack " + q.name, points(series, func(p stats.Point) (float64, bool) { return q.get(p.Ack), p.Ack.Count > 0 })},
			line{"e2e " + q.name, points(series, func(p stats.Point) (float64, bool) { return q.get(p.E2E), p.E2E.Count > 0 })})
	}
	return savePanels(path, []panel{thr, lat})
}

// PlotComparison draws, for one scenario, each target's produce
// throughput and ack and end-to-end p99 over time (its first round).
func PlotComparison(path, scenario string, runs []Run) error {
	thr := panel{title: scenario + ": produce throughput (first round of each target)", yLabel: "MB/s"}
	ack := panel{title: "ack p99 from intended send time", yLabel: "ms (log)", logY: true}
	e2e := panel{title: "end-to-end p99 from intended send time", yLabel: "ms (log)", logY: true}
	seen := map[string]bool{}
	for _, run := range runs {
		if run.Scenario.Name != scenario || seen[run.Target.Name] || len(run.Summary.Series) == 0 {
			continue
		}
		seen[run.Target.Name] = true
		s := run.Summary.Series
		thr.lines = append(thr.lines, line{run.Target.Name, points(s, func(p stats.Point) (float64, bool) { return p.Produce.MBPerSec, true })})
		ack.lines = append(ack.lines, line{run.Target.Name, points(s, func(p stats.Point) (float64, bool) { return p.Ack.P99, p.Ack.Count > 0 })})
		e2e.lines = append(e2e.lines, line{run.Target.Name, points(s, func(p stats.Point) (float64, bool) { return p.E2E.P99, p.E2E.Count > 0 })})
	}
	return savePanels(path, []panel{thr, ack, e2e})
}

// points extracts one value per interval; get's false skips the interval
// (no samples: nothing to draw, and log scales cannot take 0).
func points(series []stats.Point, get func(stats.Point) (float64, bool)) plotter.XYs {
	var xy plotter.XYs
	for _, p := range series {
		if v, ok := get(p); ok && v > 0 {
			xy = append(xy, plotter.XY{X: p.T, Y: v})
		}
	}
	return xy
}

// rates extracts one value per interval, zeros included: an outage must
// show as a drop to zero, not as a line drawn across it.
func rates(series []stats.Point, get func(stats.Point) float64) plotter.XYs {
	xy := make(plotter.XYs, len(series))
	for i, p := range series {
		xy[i] = plotter.XY{X: p.T, Y: get(p)}
	}
	return xy
}

func (pn panel) plot() (*plot.Plot, error) {
	p := plot.New()
	p.Title.Text = pn.title
	p.X.Label.Text = "seconds since start"
	p.Y.Label.Text = pn.yLabel
	p.Legend.Top = true
	// A log axis needs positive values: an empty panel (no consumer, so no
	// end-to-end latency) stays linear.
	if pn.logY && pn.hasData() {
		p.Y.Scale = plot.LogScale{}
		p.Y.Tick.Marker = plot.LogTicks{Prec: -1}
	}
	p.Add(plotter.NewGrid())
	if err := pn.addBands(p); err != nil {
		return nil, err
	}
	for i, l := range pn.lines {
		if len(l.xy) == 0 {
			continue
		}
		lp, err := plotter.NewLine(l.xy)
		if err != nil {
			return nil, fmt.Errorf("plot %s: %w", l.label, err)
		}
		lp.Color = plotutil.Color(i)
		lp.Width = vg.Points(1.5)
		p.Add(lp)
		p.Legend.Add(l.label, lp)
	}
	return p, nil
}

// bandColors are translucent (premultiplied alpha 0.3) and far apart, so
// overlapping kinds of band stay apart from each other and from the lines.
var bandColors = []color.Color{
	color.NRGBA{R: 220, G: 40, B: 40, A: 77},
	color.NRGBA{R: 40, G: 90, B: 220, A: 77},
	color.NRGBA{R: 240, G: 160, B: 20, A: 77},
	color.NRGBA{R: 40, G: 170, B: 60, A: 77},
	color.NRGBA{R: 150, G: 60, B: 190, A: 77},
	color.NRGBA{R: 110, G: 110, B: 110, A: 77},
}

// addBands shades each band over the y range of the panel's lines.
func (pn panel) addBands(p *plot.Plot) error {
	if len(pn.bands) == 0 || !pn.hasData() {
		return nil
	}
	lo, hi := math.Inf(1), math.Inf(-1)
	for _, l := range pn.lines {
		for _, xy := range l.xy {
			lo, hi = math.Min(lo, xy.Y), math.Max(hi, xy.Y)
		}
	}
	if !pn.logY {
		lo = 0
	}
	labels := map[string]color.Color{}
	for _, b := range pn.bands {
		c, ok := labels[b.Label]
		if !ok {
			c = bandColors[len(labels)%len(bandColors)]
		}
		poly, err := plotter.NewPolygon(plotter.XYs{{X: b.From, Y: lo}, {X: b.To, Y: lo}, {X: b.To, Y: hi}, {X: b.From, Y: hi}})
		if err != nil {
			return fmt.Errorf("plot band %s: %w", b.Label, err)
		}
		poly.Color, poly.LineStyle.Width = c, 0
		p.Add(poly)
		if !ok {
			labels[b.Label] = c
			p.Legend.Add(b.Label, poly)
		}
	}
	return nil
}

func (pn panel) hasData() bool {
	for _, l := range pn.lines {
		if len(l.xy) > 0 {
			return true
		}
	}
	return false
}

// savePanels stacks the panels vertically into one PNG.
func savePanels(path string, panels []panel) error {
	const width, height = 900, 320
	img := vgimg.New(vg.Points(width), vg.Points(float64(height*len(panels))))
	dc := draw.New(img)
	tiles := draw.Tiles{Rows: len(panels), Cols: 1, PadX: vg.Millimeter * 4, PadY: vg.Millimeter * 4,
		PadTop: vg.Millimeter * 2, PadBottom: vg.Millimeter * 2, PadLeft: vg.Millimeter * 2, PadRight: vg.Millimeter * 2}
	grid := make([][]*plot.Plot, len(panels))
	for i, pn := range panels {
		p, err := pn.plot()
		if err != nil {
			return err
		}
		grid[i] = []*plot.Plot{p}
	}
	canvases := plot.Align(grid, tiles, dc)
	for i := range grid {
		grid[i][0].Draw(canvases[i][0])
	}
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("plot: %w", err)
	}
	if _, err := (vgimg.PngCanvas{Canvas: img}).WriteTo(f); err != nil {
		f.Close()
		return fmt.Errorf("plot %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("plot %s: %w", path, err)
	}
	return nil
}
