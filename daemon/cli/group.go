package cli

import (
	"fmt"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kmsg"
)

type groupSummary struct {
	Group        string `json:"group"`
	State        string `json:"state"`
	ProtocolType string `json:"protocol_type"`
	Coordinator  int32  `json:"coordinator"`
}

func groupList(e *env, args []string) error {
	fs := e.flags("", "List consumer groups.")
	if _, err := e.parse(fs, args, 0, 0, ""); err != nil {
		return err
	}
	adm, ctx, done, err := e.admin(kmsg.ListGroups)
	if err != nil {
		return err
	}
	defer done()
	groups, err := adm.ListGroups(ctx)
	if err != nil {
		return err
	}
	t := newTable("GROUP", "STATE", "PROTOCOL-TYPE", "COORDINATOR")
	list := []groupSummary{}
	for _, g := range groups.Sorted() {
		t.add(g.Group, g.State, g.ProtocolType, g.Coordinator)
		list = append(list, groupSummary{g.Group, g.State, g.ProtocolType, g.Coordinator})
	}
	return e.print(t, list)
}

// groupDescription is one group in describe: its state, members and, per
// partition it has offsets or assignments for, the lag.
type groupDescription struct {
	groupSummary
	Protocol string         `json:"protocol"`
	Members  []groupMember  `json:"members"`
	TotalLag int64          `json:"total_lag"`
	Lag      []partitionLag `json:"partitions"`
}

type groupMember struct {
	MemberID   string  `json:"member_id"`
	InstanceID *string `json:"instance_id"`
	ClientID   string  `json:"client_id"`
	Host       string  `json:"host"`
}

type partitionLag struct {
	Topic         string `json:"topic"`
	Partition     int32  `json:"partition"`
	CurrentOffset int64  `json:"current_offset"` // -1: nothing committed
	LogEndOffset  int64  `json:"log_end_offset"`
	Lag           int64  `json:"lag"` // -1: unknown
	MemberID      string `json:"member_id,omitempty"`
	Error         string `json:"error,omitempty"`
}

func groupDescribe(e *env, args []string) error {
	fs := e.flags("GROUP...", "Show consumer groups: state, members, and per partition the committed offset, the log end and the lag.")
	groups, err := e.parse(fs, args, 1, -1, "group name")
	if err != nil {
		return err
	}
	adm, ctx, done, err := e.admin(kmsg.DescribeGroups, kmsg.OffsetFetch, kmsg.ListOffsets)
	if err != nil {
		return err
	}
	defer done()
	lags, err := adm.Lag(ctx, groups...)
	if err != nil {
		return err
	}
	var described []groupDescription
	failed := false
	for _, g := range groups {
		l, ok := lags[g]
		if !ok {
			e.fail(g, fmt.Errorf("not in the response"))
			failed = true
			continue
		}
		if err := l.Error(); err != nil {
			e.fail(g, err)
			failed = true
			continue
		}
		described = append(described, describeGroup(l))
	}
	if err := e.printSections(groupTables(described), described); err != nil {
		return err
	}
	if failed {
		return errReported
	}
	return nil
}

func describeGroup(l kadm.DescribedGroupLag) groupDescription {
	d := groupDescription{
		groupSummary: groupSummary{Group: l.Group, State: l.State, ProtocolType: l.ProtocolType, Coordinator: l.Coordinator.NodeID},
		Protocol:     l.Protocol,
		Members:      []groupMember{},
		Lag:          []partitionLag{},
	}
	for _, m := range l.Members {
		d.Members = append(d.Members, groupMember{m.MemberID, m.InstanceID, m.ClientID, m.ClientHost})
	}
	for _, pl := range l.Lag.Sorted() {
		p := partitionLag{Topic: pl.Topic, Partition: pl.Partition, CurrentOffset: pl.Commit.At,
			LogEndOffset: pl.End.Offset, Lag: pl.Lag}
		if pl.Member != nil {
			p.MemberID = pl.Member.MemberID
		}
		if pl.Err != nil {
			p.Error = pl.Err.Error()
		}
		if pl.Lag > 0 {
			d.TotalLag += pl.Lag
		}
		d.Lag = append(d.Lag, p)
	}
	return d
}

func groupTables(described []groupDescription) [][]*table {
	var items [][]*table
	for _, d := range described {
		summary := newTable("GROUP", d.Group)
		summary.add("STATE", d.State)
		summary.add("PROTOCOL-TYPE", d.ProtocolType)
		summary.add("PROTOCOL", d.Protocol)
		summary.add("COORDINATOR", d.Coordinator)
		summary.add("MEMBERS", len(d.Members))
		summary.add("TOTAL-LAG", d.TotalLag)
		members := newTable("MEMBER-ID", "CLIENT-ID", "HOST")
		for _, m := range d.Members {
			members.add(m.MemberID, m.ClientID, m.Host)
		}
		lag := newTable("TOPIC", "PARTITION", "CURRENT-OFFSET", "LOG-END-OFFSET", "LAG", "MEMBER-ID", "ERROR")
		for _, p := range d.Lag {
			lag.add(p.Topic, p.Partition, p.CurrentOffset, p.LogEndOffset, p.Lag, p.MemberID, p.Error)
		}
		items = append(items, []*table{summary, members, lag})
	}
	return items
}
