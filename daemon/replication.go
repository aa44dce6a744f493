package daemon

import (
	"time"

	"github.com/riffle/riffle/daemon/replicas"
)

// replicaFetchConfig is what the replica manager's fetchers need of the
// [replication] section. A fetched batch came in a request, so no batch
// is larger than network.max_request_bytes: a response frame is at most
// that beyond replica_fetch_response_max_bytes.
func (c *Config) replicaFetchConfig() replicas.FetchConfig {
	r := c.Replication
	ms := func(v int64) time.Duration { return time.Duration(v) * time.Millisecond }
	return replicas.FetchConfig{
		WaitMax:           ms(int64(r.ReplicaFetchWaitMaxMs)),
		PartitionBytesMax: r.ReplicaFetchMaxBytes,
		ResponseBytesMax:  r.ReplicaFetchResponseMaxBytes,
		Backoff:           ms(int64(r.ReplicaFetchBackoffMs)),
		FrameBytesMax:     int(r.ReplicaFetchResponseMaxBytes) + int(c.Network.MaxRequestBytes),
	}
}
