package e2e

import (
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/riffle/riffle/internal/brokertest"
)

// A client that sends bad frames over and over gets one warning per
// connection; the broker writes the first few and counts the rest in a
// summary line rather than flooding its log.
func TestLogFloodLimited(t *testing.T) {
	b := brokertest.Start(t)
	const conns = 300
	for range conns {
		c := dial(t, b.Addr())
		if _, err := c.Write([]byte{0xff, 0xff, 0xff, 0xff}); err != nil { // a negative frame size
			t.Fatal(err)
		}
		expectClosed(t, c, "bad frame")
	}
	const msg = `msg="closing connection: bad frame`
	summary := regexp.MustCompile(regexp.QuoteMeta(msg) + ` \(suppressed (\d+) similar messages\)"`)
	var written, summaries, suppressed int
	deadline := time.After(time.Minute) // the summary comes when the 10 s interval ends
	poll := time.NewTicker(100 * time.Millisecond)
	defer poll.Stop()
	for done := false; !done; {
		written, summaries, suppressed = 0, 0, 0
		for _, line := range strings.Split(b.Output(), "\n") {
			if m := summary.FindStringSubmatch(line); m != nil {
				n, _ := strconv.Atoi(m[1])
				summaries, suppressed = summaries+1, suppressed+n
			} else if strings.Contains(line, msg+`"`) {
				written++
			}
		}
		if written+suppressed == conns {
			break
		}
		select {
		case <-deadline:
			done = true
		case <-poll.C:
		}
	}
	if written+suppressed != conns || written > 10*(summaries+1) {
		t.Errorf("%d bad-frame warnings written, %d counted in %d summaries; want %d in all, at most 10 written per 10 s interval",
			written, suppressed, summaries, conns)
	}
	expectServing(t, b.Addr())
}
