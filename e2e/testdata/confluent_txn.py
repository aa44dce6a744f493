# confluent-kafka (librdkafka) transactions against a Riffle broker.
# Usage: python3 confluent_txn.py BOOTSTRAP
# init_transactions, then an aborted and a committed transaction;
# a read_committed consumer must see exactly the committed records, a
# read_uncommitted one both. Prints "ok".
import sys
from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

bootstrap = sys.argv[1]
topic = "py-txn"

admin = AdminClient({"bootstrap.servers": bootstrap})
for f in admin.create_topics([NewTopic(topic, num_partitions=2, replication_factor=1)]).values():
    f.result(30)

p = Producer({"bootstrap.servers": bootstrap, "transactional.id": "py-txn-1"})
p.init_transactions(30)
p.begin_transaction()
for i in range(20):
    p.produce(topic, value=b"aborted-%d" % i, partition=i % 2)
p.flush(30)
p.abort_transaction(30)
p.begin_transaction()
for i in range(20):
    p.produce(topic, value=b"committed-%d" % i, partition=i % 2)
p.commit_transaction(30)


def read(isolation, want):
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": "py-txn-" + isolation,
                  "isolation.level": isolation, "auto.offset.reset": "earliest",
                  "enable.partition.eof": True})
    c.assign([TopicPartition(topic, 0, 0), TopicPartition(topic, 1, 0)])
    got, eofs = [], set()
    for _ in range(600):
        m = c.poll(0.1)
        if m is None:
            continue
        if m.error():
            if m.error().code() == -191:  # _PARTITION_EOF
                eofs.add(m.partition())
                if len(eofs) == 2 and len(got) >= want:
                    break
                continue
            raise SystemExit("consume: %s" % m.error())
        got.append(m.value().decode())
    c.close()
    return got


committed = read("read_committed", 20)
if sorted(committed) != sorted("committed-%d" % i for i in range(20)):
    raise SystemExit("read_committed saw %r" % committed)
everything = read("read_uncommitted", 40)
if len(everything) != 40:
    raise SystemExit("read_uncommitted saw %d records" % len(everything))
print("ok")
