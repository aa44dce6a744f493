"""python3-confluent-kafka (librdkafka) against a Riffle broker.

Usage: python3 confluent_client.py BOOTSTRAP
Creates a topic with AdminClient, produces, consumes, checks watermarks and
offsets_for_times, deletes the topic. Exits non-zero with a message on the
first mismatch.
"""
import sys
import time

from confluent_kafka import Consumer, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

BOOTSTRAP = sys.argv[1]
TOPIC = "python-roundtrip"
COUNT = 1000
BASE_TS = int(time.time() * 1000) - 3_600_000


def fail(msg):
    print("FAIL: " + msg, file=sys.stderr)
    sys.exit(1)


def wait_topics(admin, present, timeout=20):
    deadline = time.time() + timeout
    while time.time() < deadline:
        topics = admin.list_topics(timeout=5).topics
        if (TOPIC in topics and topics[TOPIC].error is None) == present:
            return
        time.sleep(0.1)
    fail("topic %s %s after %ds" % (TOPIC, "missing" if present else "still there", timeout))


def main():
    admin = AdminClient({"bootstrap.servers": BOOTSTRAP})
    fs = admin.create_topics([NewTopic(TOPIC, num_partitions=3, replication_factor=1,
                                       config={"retention.ms": "86400000"})])
    fs[TOPIC].result(timeout=20)
    wait_topics(admin, True)

    # Creating it again must fail with TOPIC_ALREADY_EXISTS.
    try:
        admin.create_topics([NewTopic(TOPIC, num_partitions=1, replication_factor=1)])[TOPIC].result(timeout=20)
        fail("second create_topics succeeded")
    except KafkaException as e:
        if e.args[0].name() != "TOPIC_ALREADY_EXISTS":
            fail("second create_topics: %s" % e)

    # A long linger: each partition's records go in one lz4 batch (flush
    # sends at once), so the offsets_for_times answers below lie inside a
    # compressed batch, where only decompressing finds them.
    producer = Producer({"bootstrap.servers": BOOTSTRAP, "enable.idempotence": True,
                         "compression.type": "lz4", "linger.ms": 1000})
    delivered = []

    def on_delivery(err, msg):
        if err is not None:
            fail("delivery: %s" % err)
        delivered.append((msg.partition(), msg.offset(), msg.key()))

    for i in range(COUNT):
        producer.produce(TOPIC, key=b"key-%d" % i, value=b"value-%d" % i, partition=i % 3,
                         timestamp=BASE_TS + i, headers=[("i", str(i).encode())], on_delivery=on_delivery)
    if producer.flush(30) != 0:
        fail("producer did not flush")
    if len(delivered) != COUNT:
        fail("delivered %d of %d" % (len(delivered), COUNT))

    consumer = Consumer({"bootstrap.servers": BOOTSTRAP, "group.id": "unused-no-commit",
                         "enable.auto.commit": False, "auto.offset.reset": "earliest"})
    for p in range(3):
        low, high = consumer.get_watermark_offsets(TopicPartition(TOPIC, p), timeout=10)
        want = len([i for i in range(COUNT) if i % 3 == p])
        if (low, high) != (0, want):
            fail("watermarks of partition %d: %s, want (0, %d)" % (p, (low, high), want))

    # offsets_for_times: record i has timestamp BASE_TS+i and sits in partition i%3
    # at offset i//3, so the first offset at or after BASE_TS+300 in partition 0 is
    # 100 (record 300), and at or after BASE_TS+301 in partition 2 is 100 too
    # (record 302: no record has that timestamp there).
    found = consumer.offsets_for_times([TopicPartition(TOPIC, 0, BASE_TS + 300),
                                        TopicPartition(TOPIC, 1, BASE_TS + 10 ** 9),
                                        TopicPartition(TOPIC, 2, BASE_TS + 301)], timeout=10)
    if found[0].offset != 100:
        fail("offsets_for_times partition 0: %d, want 100" % found[0].offset)
    if found[1].offset != -1:
        fail("offsets_for_times past the end: %d, want -1 (end)" % found[1].offset)
    if found[2].offset != 100:
        fail("offsets_for_times partition 2 between timestamps: %d, want 100" % found[2].offset)

    consumer.assign([TopicPartition(TOPIC, p, 0) for p in range(3)])
    seen = {}
    deadline = time.time() + 60
    while len(seen) < COUNT and time.time() < deadline:
        msg = consumer.poll(1.0)
        if msg is None:
            continue
        if msg.error():
            fail("consume: %s" % msg.error())
        i = int(msg.key().decode().split("-")[1])
        if msg.value() != b"value-%d" % i or msg.timestamp()[1] != BASE_TS + i:
            fail("record %d: value %r timestamp %r" % (i, msg.value(), msg.timestamp()))
        if msg.headers() != [("i", str(i).encode())]:
            fail("record %d: headers %r" % (i, msg.headers()))
        if msg.offset() != i // 3 or msg.partition() != i % 3:
            fail("record %d at %d/%d" % (i, msg.partition(), msg.offset()))
        seen[i] = True
    consumer.close()
    if len(seen) != COUNT:
        fail("consumed %d of %d" % (len(seen), COUNT))

    admin.delete_topics([TOPIC])[TOPIC].result(timeout=20)
    wait_topics(admin, False)
    print("ok")


main()
