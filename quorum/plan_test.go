package quorum

import (
	"fmt"
	"strconv"
	"strings"
	"testing"

	"github.com/riffle/riffle/internal/scripttest"
)

// counterRandom fills each request with one byte value: 1, 2, 3, ...
// Ids in the scripts are therefore 0101..., 0202..., and so on.
func counterRandom() func(b []byte) {
	n := byte(0)
	return func(b []byte) {
		n++
		for i := range b {
			b[i] = n
		}
	}
}

// machine is the pure state machine the scripts drive: planner, image and
// the controller's next producer id, without a log.
type machine struct {
	p       planner
	im      *Image
	pidNext int64
}

// commit applies recs as the controller does, through an encoded batch.
func (m *machine) commit(recs []record) string {
	if len(recs) == 0 {
		return "no change\n"
	}
	var out strings.Builder
	for _, r := range recs {
		out.WriteString(formatRecord(r) + "\n")
	}
	_, decoded, err := decodeBatch(encodeBatch(recs, 0))
	if err != nil {
		return out.String() + errorLine(err)
	}
	next, err := m.im.apply(decoded, m.im.Offset+int64(len(recs)))
	if err != nil {
		return out.String() + errorLine(err)
	}
	m.im = next
	return out.String()
}

func (m *machine) run(cmd string, a scripttest.Args) string {
	var recs []record
	var err error
	switch cmd {
	case "startup":
		recs = m.p.startup(m.im, Broker{ID: int32(a.Int("id", 1)), Host: a.Str("host", "h1"), Port: int32(a.Int("port", 9092)), Rack: a.Str("rack", "")})
	case "create-topic":
		req := CreateTopic{
			Name:              a.Str("name", ""),
			Partitions:        int32(a.Int("partitions", -1)),
			ReplicationFactor: int16(a.Int("rf", -1)),
			Configs:           a.KVs("configs"),
			Internal:          a.Flag("internal"),
		}
		recs, err = m.p.createTopic(m.im, req, int32(a.Int("default-partitions", 1)), int16(a.Int("default-rf", 1)))
	case "delete-topic":
		recs, err = m.p.deleteTopic(m.im, a.Str("name", ""))
	case "create-partitions":
		recs, err = m.p.createPartitions(m.im, a.Str("name", ""), int32(a.Int("count", 0)))
	case "alter-configs":
		set := map[string]*string{}
		for k, v := range a.KVs("set") {
			set[k] = &v
		}
		for k := range a.KVs("delete") {
			set[k] = nil
		}
		if a.Flag("cluster") {
			recs, err = alterClusterConfigs(m.im, set)
		} else {
			recs, err = m.p.alterTopicConfigs(m.im, a.Str("name", ""), set)
		}
	case "allocate-pids":
		n := a.Int("n", 1)
		var first int64
		if recs, first, err = allocateProducerIDs(m.im, m.pidNext, n); err == nil {
			m.pidNext = first + n
			return m.commit(recs) + "first=" + strconv.FormatInt(first, 10)
		}
	case "restart":
		// What Open does: ids left in the reserved block are skipped.
		m.pidNext = m.im.ProducerIDsEnd
		return "pid-next=" + strconv.FormatInt(m.pidNext, 10)
	case "limits":
		m.p.topicsMax = int(a.Int("topics", int64(m.p.topicsMax)))
		m.p.brokerPartitionsMax = int(a.Int("broker-partitions", int64(m.p.brokerPartitionsMax)))
		return "ok"
	case "image":
		return formatImage(m.im) + fmt.Sprintf("changed by the last change: %v\n", m.im.TopicsChanged)
	default:
		a.Fatalf("unknown command %q", cmd)
	}
	if err != nil {
		return errorLine(err)
	}
	if a.Flag("validate-only") {
		prev := m.im
		out := m.commit(recs)
		m.im = prev
		return "validate-only, discarded:\n" + out
	}
	return m.commit(recs)
}

func TestPlanScripts(t *testing.T) {
	scripttest.Run(t, "plan-*.txt", func(*testing.T) func(string, scripttest.Args) string {
		m := &machine{
			p: planner{
				topicPartitionsMax:  8,
				brokerPartitionsMax: DefaultBrokerPartitionsMax,
				topicsMax:           DefaultTopicsMax,
				validateConfig:      ValidateTopicConfig,
				random:              counterRandom(),
			},
			im: emptyImage(1),
		}
		return m.run
	})
}
