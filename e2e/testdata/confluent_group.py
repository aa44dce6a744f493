"""python3-confluent-kafka (librdkafka) consumer groups against a Riffle broker.

Usage: python3 confluent_group.py BOOTSTRAP
A consumer in a group consumes half of a topic and commits synchronously;
a second consumer in the same group resumes exactly at the committed
offsets. The group shows up in list_groups. Exits non-zero with a message on
the first mismatch.
"""
import sys
import time

from confluent_kafka import Consumer, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

BOOTSTRAP = sys.argv[1]
TOPIC = "python-group"
GROUP = "python-group-g"
PARTITIONS = 3
COUNT = 300


def fail(msg):
    print("FAIL: " + msg, file=sys.stderr)
    sys.exit(1)


def consumer():
    return Consumer({"bootstrap.servers": BOOTSTRAP, "group.id": GROUP, "enable.auto.commit": False,
                     "auto.offset.reset": "earliest", "session.timeout.ms": 6000})


def consume(c, n, timeout=60):
    """Polls until n records arrived; returns them as (partition, offset, value)."""
    got = []
    deadline = time.time() + timeout
    while len(got) < n and time.time() < deadline:
        msg = c.poll(0.5)
        if msg is None:
            continue
        if msg.error():
            fail("consume: %s" % msg.error())
        got.append((msg.partition(), msg.offset(), msg.value()))
    if len(got) < n:
        fail("consumed %d of %d" % (len(got), n))
    return got


def main():
    admin = AdminClient({"bootstrap.servers": BOOTSTRAP})
    admin.create_topics([NewTopic(TOPIC, num_partitions=PARTITIONS, replication_factor=1)])[TOPIC].result(timeout=20)
    producer = Producer({"bootstrap.servers": BOOTSTRAP})
    for i in range(COUNT):
        producer.produce(TOPIC, value=b"v%d" % i, partition=i % PARTITIONS)
    if producer.flush(30) != 0:
        fail("producer did not flush")

    first = consumer()
    first.subscribe([TOPIC])
    got = consume(first, COUNT // 2)
    first.commit(asynchronous=False)
    committed = first.committed([TopicPartition(TOPIC, p) for p in range(PARTITIONS)], timeout=10)
    want = {}
    for p, o, _ in got:
        want[p] = max(want.get(p, 0), o + 1)
    for tp in committed:
        if tp.error is not None or tp.offset != want.get(tp.partition, -1001):
            fail("committed %s, want %s" % (committed, want))
    first.close()

    second = consumer()
    second.subscribe([TOPIC])
    rest = consume(second, COUNT - len(got))
    seen = set((p, o) for p, o, _ in got)
    for p, o, _ in rest:
        if (p, o) in seen:
            fail("record %d/%d consumed again after the commit" % (p, o))
        seen.add((p, o))
    if len(seen) != COUNT:
        fail("consumed %d distinct records, want %d" % (len(seen), COUNT))
    groups = [g.id for g in admin.list_groups(timeout=10)]
    if GROUP not in groups:
        fail("list_groups: %s lacks %s" % (groups, GROUP))
    second.close()
    print("ok")


main()
