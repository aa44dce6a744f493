package cli

import (
	"fmt"
	"slices"
	"strings"

	"github.com/twmb/franz-go/pkg/kmsg"
)

type txnSummary struct {
	TransactionalID string `json:"transactional_id"`
	State           string `json:"state"`
	ProducerID      int64  `json:"producer_id"`
	Coordinator     int32  `json:"coordinator"`
}

func txnList(e *env, args []string) error {
	fs := e.flags("", "List transactional ids and their transaction states, from every broker's coordinator.")
	state := fs.String("state", "", "only these states (comma-separated: Empty, Ongoing, PrepareCommit, PrepareAbort, CompleteCommit, CompleteAbort)")
	if _, err := e.parse(fs, args, 0, 0, ""); err != nil {
		return err
	}
	var states []string
	if *state != "" {
		states = strings.Split(*state, ",")
	}
	adm, ctx, done, err := e.admin(kmsg.ListTransactions)
	if err != nil {
		return err
	}
	defer done()
	txns, err := adm.ListTransactions(ctx, nil, states)
	if err != nil {
		return err
	}
	t := newTable("TRANSACTIONAL-ID", "STATE", "PRODUCER-ID", "COORDINATOR")
	list := []txnSummary{}
	for _, x := range txns.Sorted() {
		t.add(x.TxnID, x.State, x.ProducerID, x.Coordinator)
		list = append(list, txnSummary{x.TxnID, x.State, x.ProducerID, x.Coordinator})
	}
	return e.print(t, list)
}

// txnDescription is one transactional id in describe.
type txnDescription struct {
	txnSummary
	ProducerEpoch    int16    `json:"producer_epoch"`
	TimeoutMs        int32    `json:"timeout_ms"`
	StartTimestampMs int64    `json:"start_timestamp_ms"` // -1: no transaction
	Partitions       []string `json:"partitions"`         // topic-partition, of the open transaction
}

func txnDescribe(e *env, args []string) error {
	fs := e.flags("TRANSACTIONAL-ID...", "Show transactional ids: state, producer id and epoch, timeout, start and the partitions of the open transaction.")
	ids, err := e.parse(fs, args, 1, -1, "transactional id")
	if err != nil {
		return err
	}
	adm, ctx, done, err := e.admin(kmsg.DescribeTransactions)
	if err != nil {
		return err
	}
	defer done()
	described, err := adm.DescribeTransactions(ctx, ids...)
	if err != nil {
		return err
	}
	t := newTable("TRANSACTIONAL-ID", "STATE", "PRODUCER-ID", "EPOCH", "TIMEOUT-MS", "START-MS", "COORDINATOR", "PARTITIONS")
	list := []txnDescription{}
	failed := false
	for _, id := range ids {
		d, ok := described[id]
		switch {
		case !ok:
			e.fail(id, fmt.Errorf("not in the response"))
			failed = true
			continue
		case d.Err != nil:
			e.fail(id, d.Err)
			failed = true
			continue
		}
		parts := []string{}
		d.Topics.Each(func(topic string, p int32) { parts = append(parts, fmt.Sprintf("%s-%d", topic, p)) })
		slices.Sort(parts)
		x := txnDescription{txnSummary{d.TxnID, d.State, d.ProducerID, d.Coordinator}, d.ProducerEpoch, d.TimeoutMillis, d.StartTimestamp, parts}
		t.add(x.TransactionalID, x.State, x.ProducerID, x.ProducerEpoch, x.TimeoutMs, x.StartTimestampMs, x.Coordinator, strings.Join(parts, ","))
		list = append(list, x)
	}
	if err := e.print(t, list); err != nil {
		return err
	}
	if failed {
		return errReported
	}
	return nil
}
