package report

import (
	"image/png"
	"os"
	"path/filepath"
	"testing"
)

// An empty log-scale panel (a run without consumers has no end-to-end
// latency) must still draw.
func TestSavePanelsEmptyLogPanel(t *testing.T) {
	path := filepath.Join(t.TempDir(), "p.png")
	panels := []panel{{title: "e2e", yLabel: "ms", logY: true, lines: []line{{label: "none"}}}}
	if err := savePanels(path, panels); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := png.Decode(f); err != nil {
		t.Fatalf("not a PNG: %v", err)
	}
}
