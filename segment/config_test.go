package segment

import (
	"errors"
	"strings"
	"testing"
)

func TestConfigValidate(t *testing.T) {
	if err := DefaultConfig().Validate(); err != nil {
		t.Fatalf("default config invalid: %v", err)
	}
	cases := []struct {
		change func(*Config)
		want   string
	}{
		{func(c *Config) { c.SegmentBytes = 10 }, "segment.bytes 10 below minimum 61"},
		{func(c *Config) { c.SegmentBytes = 1 << 31 }, "segment.bytes 2147483648 above maximum 2147483647"},
		{func(c *Config) { c.SegmentMs = 0 }, "segment.ms 0 below minimum 1"},
		{func(c *Config) { c.IndexIntervalBytes = -1 }, "index.interval.bytes -1 below minimum 0"},
		{func(c *Config) { c.IndexBytesMax = 8 }, "segment.index.bytes 8 below minimum 12"},
		{func(c *Config) { c.IndexBytesMax = 1<<30 + 1 }, "segment.index.bytes 1073741825 above maximum"},
		{func(c *Config) { c.BatchBytesMax = 1 }, "max.message.bytes 1 below minimum 61"},
		{func(c *Config) { c.RetentionBytes = -2 }, "retention.bytes -2 below minimum -1"},
		{func(c *Config) { c.RetentionMs = -5 }, "retention.ms -5 below minimum -1"},
		{func(c *Config) { c.FlushMessages = 0 }, "flush.messages 0 below minimum 1"},
		{func(c *Config) { c.FlushMs = -1 }, "flush.ms -1 below minimum 0"},
		{func(c *Config) { c.FileDeleteDelayMs = -1 }, "file.delete.delay.ms -1 below minimum 0"},
	}
	for _, tc := range cases {
		c := DefaultConfig()
		tc.change(&c)
		err := c.Validate()
		if !errors.Is(err, ErrInvalidConfig) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Validate() = %v, want %q", err, tc.want)
		}
	}
}

func TestBadConfigRejected(t *testing.T) {
	e := newEnv(t, smallConfig())
	d := e.open()
	defer d.Close()
	bad := smallConfig()
	bad.SegmentBytes = 1
	if _, err := d.CreateLog("t", 0, bad); !errors.Is(err, ErrInvalidConfig) {
		t.Fatalf("CreateLog with bad config: %v", err)
	}
	l, err := d.CreateLog("t", 0, smallConfig())
	if err != nil {
		t.Fatal(err)
	}
	if err := l.SetConfig(bad); !errors.Is(err, ErrInvalidConfig) {
		t.Fatalf("SetConfig with bad config: %v", err)
	}
}

func TestOpenFilesLimit(t *testing.T) {
	e := newEnv(t, smallConfig())
	e.opts.OpenFilesMax = 6 // two segments
	d, l := e.openLog()
	defer d.Close()
	var err error
	for i := 0; err == nil && i < 100; i++ {
		_, err = l.Append(valid(testBatch(0, 3)), 1)
		l.background.Wait() // the roll's sync holds the sealed files meanwhile
	}
	if !errors.Is(err, ErrOpenFilesLimit) || l.SegmentCount() != 2 {
		t.Fatalf("append past the open-files limit: %v with %d segments", err, l.SegmentCount())
	}
	// Deleting a segment frees its files; appends resume.
	if err := l.AdvanceLogStart(l.LogEndOffset()); err != nil {
		t.Fatal(err)
	}
	if _, err := l.Append(valid(testBatch(0, 3)), 1); err != nil {
		t.Fatalf("append after freeing files: %v", err)
	}
	checkContiguous(t, readAll(t, l, l.LogStartOffset()), l.LogStartOffset(), l.LogEndOffset())
	e.opts.OpenFilesMax = -1
	if _, err := OpenDataDir(t.TempDir(), func(string) Config { return smallConfig() }, e.opts); !errors.Is(err, ErrInvalidConfig) {
		t.Fatalf("negative OpenFilesMax: %v", err)
	}
}
