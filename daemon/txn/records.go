package txn

import (
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// TransactionsTopic is the internal topic holding transaction state.
const TransactionsTopic = "__transaction_state"

// State is a transaction's state, with Kafka's codes (the record's
// TransactionStatus).
type State int8

const (
	Empty             State = 0
	Ongoing           State = 1
	PrepareCommit     State = 2
	PrepareAbort      State = 3
	CompleteCommit    State = 4
	CompleteAbort     State = 5
	Dead              State = 6
	PrepareEpochFence State = 7
)

// String is the state's name as DescribeTransactions and
// ListTransactions report it.
func (s State) String() string {
	switch s {
	case Empty:
		return "Empty"
	case Ongoing:
		return "Ongoing"
	case PrepareCommit:
		return "PrepareCommit"
	case PrepareAbort:
		return "PrepareAbort"
	case CompleteCommit:
		return "CompleteCommit"
	case CompleteAbort:
		return "CompleteAbort"
	case Dead:
		return "Dead"
	case PrepareEpochFence:
		return "PrepareEpochFence"
	}
	return fmt.Sprintf("State(%d)", int8(s))
}

// txnMeta is one transactional id's state.
type txnMeta struct {
	id         string
	partition  int32 // of __transaction_state
	producerID int64
	epoch      int16
	lastEpoch  int16 // the epoch before the last bump, -1 none
	timeoutMs  int32
	state      State
	partitions map[TopicPartition]bool
	startMs    int64 // when the current transaction began
	updateMs   int64
	// tv2: the producer runs KIP-890 part 2 transactions (transaction
	// version 2): every end bumps the epoch, and partitions are added by
	// their leaders on the first produce.
	tv2 bool
	// prevProducerID is the producer id before the last one, once an
	// epoch overflow moved the id on (a retry of that end names it);
	// nextProducerID is the id a prepared transaction's end moves to (its
	// epoch is exhausted); -1 none.
	prevProducerID, nextProducerID int64
	// pending: a record append or the markers are outstanding; requests
	// about the id get CONCURRENT_TRANSACTIONS meanwhile.
	pending bool
}

// apply takes next's stored fields.
func (t *txnMeta) apply(next txnMeta) {
	next.pending = t.pending
	*t = next
}

func (t *txnMeta) sortedPartitions() []TopicPartition {
	return slices.SortedFunc(maps.Keys(t.partitions), func(a, b TopicPartition) int {
		if c := strings.Compare(a.Topic, b.Topic); c != 0 {
			return c
		}
		return int(a.Partition - b.Partition)
	})
}

// recordKey is Kafka's TransactionLogKey, version 0.
func recordKey(id string) []byte {
	k := kmsg.TxnMetadataKey{Version: 0, TransactionalID: id}
	return k.AppendTo(nil)
}

// recordValue is Kafka's TransactionLogValue: version 0 (the version
// every Kafka since 0.11 reads), or for transaction version 2 version 1
// with the previous and next producer ids and the client's transaction
// version, as Kafka 4 writes them. Topics are null in the Empty and
// Complete states, as Kafka writes them.
func (t *txnMeta) recordValue() []byte {
	v := kmsg.NewTxnMetadataValue()
	v.Version = 0
	if t.tv2 {
		v.Version, v.ClientTransactionVersion = 1, 2
		v.PreviousProducerID, v.NextProducerID = t.prevProducerID, t.nextProducerID
	}
	v.ProducerID, v.ProducerEpoch, v.TimeoutMillis = t.producerID, t.epoch, t.timeoutMs
	v.State = kmsg.TransactionState(t.state)
	v.LastUpdateTimestamp, v.StartTimestamp = t.updateMs, t.startMs
	var topic *kmsg.TxnMetadataValueTopic
	for _, tp := range t.sortedPartitions() {
		if topic == nil || topic.Topic != tp.Topic {
			v.Topics = append(v.Topics, kmsg.TxnMetadataValueTopic{Topic: tp.Topic})
			topic = &v.Topics[len(v.Topics)-1]
		}
		topic.Partitions = append(topic.Partitions, tp.Partition)
	}
	return v.AppendTo(nil)
}

// parseKey reads a record key: ok is false for a key of another kind.
func parseKey(key []byte) (id string, ok bool, err error) {
	var k kmsg.TxnMetadataKey
	if err := k.ReadFrom(key); err != nil {
		return "", false, fmt.Errorf("transaction key: %w", err)
	}
	if k.Version != 0 {
		return "", false, nil
	}
	return k.TransactionalID, true, nil
}

func parseValue(id string, p int32, value []byte) (*txnMeta, error) {
	var v kmsg.TxnMetadataValue
	if err := v.ReadFrom(value); err != nil {
		return nil, fmt.Errorf("transaction %q value: %w", id, err)
	}
	t := &txnMeta{id: id, partition: p, producerID: v.ProducerID, epoch: v.ProducerEpoch, lastEpoch: -1,
		timeoutMs: v.TimeoutMillis, state: State(v.State), partitions: map[TopicPartition]bool{},
		startMs: v.StartTimestamp, updateMs: v.LastUpdateTimestamp,
		tv2: v.ClientTransactionVersion >= 2, prevProducerID: v.PreviousProducerID, nextProducerID: v.NextProducerID}
	if t.state < Empty || t.state > PrepareEpochFence {
		return nil, fmt.Errorf("transaction %q: state %d", id, v.State)
	}
	for _, topic := range v.Topics {
		for _, part := range topic.Partitions {
			t.partitions[TopicPartition{topic.Topic, part}] = true
		}
	}
	return t, nil
}
