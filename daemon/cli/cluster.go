package cli

import (
	"context"
	"fmt"
	"slices"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/riffle/riffle/quorum"
)

// clusterDescription is `riffle cluster describe`: the quorum and the brokers.
type clusterDescription struct {
	ClusterID    string         `json:"cluster_id"`
	ControllerID int32          `json:"controller_id"`
	Quorum       quorumDesc     `json:"quorum"`
	Brokers      []brokerDetail `json:"brokers"`
}

type quorumDesc struct {
	LeaderID      int32        `json:"leader_id"`
	Term          int32        `json:"term"`
	HighWatermark int64        `json:"high_watermark"`
	Voters        []voterState `json:"voters"`
	// Observers are the brokers that are not voters, as the leader last
	// heard from them (they fetch the metadata log from it).
	Observers []voterState `json:"observers"`
}

type voterState struct {
	ID int32 `json:"id"`
	// LogEnd is the replica's log end as the leader knows it (-1: unknown);
	// Lag is how far it is behind the leader's log end.
	LogEnd int64 `json:"log_end"`
	Lag    int64 `json:"lag"`
}

type brokerDetail struct {
	ID   int32   `json:"id"`
	Host string  `json:"host"`
	Port int32   `json:"port"`
	Rack *string `json:"rack"`
	Role string  `json:"role"` // "active controller", "voter" or "broker"
}

func clusterDescribe(e *env, args []string) error {
	fs := e.flags("", "Show the cluster: the metadata quorum (voters, leader, term, each voter's lag,\nthe observers: brokers that are not voters) and the registered brokers.")
	if _, err := e.parse(fs, args, 0, 0, ""); err != nil {
		return err
	}
	cl, ctx, cancel, err := e.connect()
	if err != nil {
		return err
	}
	defer cl.Close()
	defer cancel()
	if err := requireAPIs(ctx, kadm.NewClient(cl), []kmsg.Key{kmsg.DescribeCluster, kmsg.DescribeQuorum}); err != nil {
		return err
	}
	d, err := describeCluster(ctx, cl)
	if err != nil {
		return err
	}
	return e.printSections([][]*table{clusterTables(d)}, d)
}

// describeCluster asks any broker for the brokers (DescribeCluster) and
// the active controller for the quorum (DescribeQuorum: franz-go sends it
// to the controller and follows NOT_CONTROLLER).
func describeCluster(ctx context.Context, cl *kgo.Client) (clusterDescription, error) {
	dcReq := kmsg.NewPtrDescribeClusterRequest()
	dc, err := dcReq.RequestWith(ctx, cl)
	if err != nil {
		return clusterDescription{}, fmt.Errorf("DescribeCluster: %w", err)
	}
	if err := kerr.ErrorForCode(dc.ErrorCode); err != nil {
		return clusterDescription{}, fmt.Errorf("DescribeCluster: %s", errText(err, derefOr(dc.ErrorMessage)))
	}
	dqReq := kmsg.NewPtrDescribeQuorumRequest()
	rt := kmsg.NewDescribeQuorumRequestTopic()
	rt.Topic = quorum.MetadataTopic
	rt.Partitions = []kmsg.DescribeQuorumRequestTopicPartition{kmsg.NewDescribeQuorumRequestTopicPartition()}
	dqReq.Topics = append(dqReq.Topics, rt)
	dq, err := dqReq.RequestWith(ctx, cl)
	if err != nil {
		return clusterDescription{}, fmt.Errorf("DescribeQuorum: %w", err)
	}
	q, err := quorumFrom(dq)
	if err != nil {
		return clusterDescription{}, fmt.Errorf("DescribeQuorum: %w", err)
	}
	d := clusterDescription{ClusterID: dc.ClusterID, ControllerID: dc.ControllerID, Quorum: q}
	for _, b := range dc.Brokers {
		role := "broker"
		switch {
		case b.NodeID == q.LeaderID:
			role = "active controller"
		case slices.ContainsFunc(q.Voters, func(v voterState) bool { return v.ID == b.NodeID }):
			role = "voter"
		}
		d.Brokers = append(d.Brokers, brokerDetail{ID: b.NodeID, Host: b.Host, Port: b.Port, Rack: b.Rack, Role: role})
	}
	return d, nil
}

// quorumFrom reads the metadata partition's quorum out of a DescribeQuorum response.
func quorumFrom(dq *kmsg.DescribeQuorumResponse) (quorumDesc, error) {
	if err := kerr.ErrorForCode(dq.ErrorCode); err != nil {
		return quorumDesc{}, fmt.Errorf("%s", errText(err, derefOr(dq.ErrorMessage)))
	}
	if len(dq.Topics) != 1 || len(dq.Topics[0].Partitions) != 1 {
		return quorumDesc{}, fmt.Errorf("want one partition of %s, got %d topics", quorum.MetadataTopic, len(dq.Topics))
	}
	p := dq.Topics[0].Partitions[0]
	if err := kerr.ErrorForCode(p.ErrorCode); err != nil {
		return quorumDesc{}, fmt.Errorf("%s", errText(err, derefOr(p.ErrorMessage)))
	}
	q := quorumDesc{LeaderID: p.LeaderID, Term: p.LeaderEpoch, HighWatermark: p.HighWatermark}
	var leaderEnd int64 = -1
	for _, v := range p.CurrentVoters {
		if v.ReplicaID == p.LeaderID {
			leaderEnd = v.LogEndOffset
		}
	}
	states := func(rs []kmsg.DescribeQuorumResponseTopicPartitionReplicaState) []voterState {
		out := []voterState{}
		for _, v := range rs {
			lag := int64(-1)
			if leaderEnd >= 0 && v.LogEndOffset >= 0 {
				lag = leaderEnd - v.LogEndOffset
			}
			out = append(out, voterState{ID: v.ReplicaID, LogEnd: v.LogEndOffset, Lag: lag})
		}
		return out
	}
	q.Voters, q.Observers = states(p.CurrentVoters), states(p.Observers)
	return q, nil
}

func derefOr(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

func clusterTables(d clusterDescription) []*table {
	summary := newTable("CLUSTER-ID", d.ClusterID)
	summary.add("CONTROLLER", d.ControllerID)
	summary.add("QUORUM-LEADER", d.Quorum.LeaderID)
	summary.add("TERM", d.Quorum.Term)
	summary.add("HIGH-WATERMARK", d.Quorum.HighWatermark)
	replicas := func(kind string, rs []voterState) *table {
		t := newTable(kind, "LOG-END", "LAG")
		for _, v := range rs {
			t.add(v.ID, unknownIfNegative(v.LogEnd), unknownIfNegative(v.Lag))
		}
		return t
	}
	voters, observers := replicas("VOTER", d.Quorum.Voters), replicas("OBSERVER", d.Quorum.Observers)
	brokers := newTable("BROKER", "HOST", "PORT", "RACK", "ROLE")
	for _, b := range d.Brokers {
		brokers.add(b.ID, b.Host, b.Port, derefOr(b.Rack), b.Role)
	}
	return []*table{summary, voters, observers, brokers}
}

func unknownIfNegative(n int64) string {
	if n < 0 {
		return "?"
	}
	return fmt.Sprint(n)
}
