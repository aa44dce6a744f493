"""python3-confluent-kafka (librdkafka) through a partition leader change.

Usage: python3 confluent_leader_change.py BOOTSTRAP TOPIC COUNT
Produces COUNT records to partition 0 of TOPIC (acks=all, idempotence),
prints "half" after the first COUNT/2 are delivered and waits for a line
on stdin (the test kills the leader meanwhile), produces the rest, then
consumes partition 0 from the start: every record once, in order, at
offsets 0..COUNT-1. Any delivery or consume error fails: librdkafka
retries the errors it can. Prints "ok" on success.
"""
import sys
import time

from confluent_kafka import Consumer, Producer, TopicPartition

BOOTSTRAP, TOPIC, COUNT = sys.argv[1], sys.argv[2], int(sys.argv[3])


def fail(msg):
    print("FAIL: " + msg, file=sys.stderr)
    sys.exit(1)


def main():
    producer = Producer({"bootstrap.servers": BOOTSTRAP, "acks": "all", "enable.idempotence": True,
                         "message.timeout.ms": 180000})
    delivered = {}

    def on_delivery(err, msg):
        if err is not None:
            fail("delivery of %r: %s" % (msg.value(), err))
        delivered[int(msg.value().decode().split("-")[1])] = msg.offset()

    def produce(lo, hi):
        for i in range(lo, hi):
            producer.produce(TOPIC, value=b"py-%06d" % i, partition=0, on_delivery=on_delivery)
            producer.poll(0)

    produce(0, COUNT // 2)
    if producer.flush(120) != 0:
        fail("first half not flushed")
    print("half", flush=True)
    sys.stdin.readline()
    produce(COUNT // 2, COUNT)
    if producer.flush(180) != 0:
        fail("second half not flushed")
    for i in range(COUNT):
        if delivered.get(i) != i:
            fail("record %d delivered at offset %r" % (i, delivered.get(i)))

    consumer = Consumer({"bootstrap.servers": BOOTSTRAP, "group.id": "unused-no-commit",
                         "enable.auto.commit": False})
    consumer.assign([TopicPartition(TOPIC, 0, 0)])
    want = 0
    deadline = time.time() + 120
    while want < COUNT and time.time() < deadline:
        msg = consumer.poll(1.0)
        if msg is None:
            continue
        if msg.error():
            fail("consume: %s" % msg.error())
        if msg.offset() != want or msg.value() != b"py-%06d" % want:
            fail("offset %d holds %r, want offset %d py-%06d" % (msg.offset(), msg.value(), want, want))
        want += 1
    consumer.close()
    if want != COUNT:
        fail("consumed %d of %d" % (want, COUNT))
    print("ok", flush=True)


main()
