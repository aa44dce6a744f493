package daemon

import "path/filepath"

// absDataDir is broker.data_dir made absolute, as DescribeLogDirs reports
// it; as given when the working directory is unknown.
func (c *Config) absDataDir() string {
	dir, err := filepath.Abs(c.Broker.DataDir)
	if err != nil {
		return c.Broker.DataDir
	}
	return dir
}
