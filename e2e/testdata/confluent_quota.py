"""python3-confluent-kafka (librdkafka) producing under a client quota.

Usage: python3 confluent_quota.py BOOTSTRAP TOPIC CLIENT_ID SECONDS
Produces uncompressed 10 KiB messages as CLIENT_ID for SECONDS and prints
one line: the bytes delivered per second and the throttle events
(throttle_cb with a throttle time above 0).
"""
import sys
import time

from confluent_kafka import Producer

BOOTSTRAP, TOPIC, CLIENT_ID, SECONDS = sys.argv[1], sys.argv[2], sys.argv[3], float(sys.argv[4])
throttles = 0
delivered = 0


def on_throttle(event):
    global throttles
    if event.throttle_time > 0:
        throttles += 1


def on_delivery(err, msg):
    global delivered
    if err is None and time.time() < deadline:
        delivered += len(msg.value())


p = Producer({"bootstrap.servers": BOOTSTRAP, "client.id": CLIENT_ID, "compression.type": "none",
              "throttle_cb": on_throttle, "queue.buffering.max.messages": 8, "linger.ms": 0})
value = bytes(10 << 10)
start = time.time()
deadline = start + SECONDS
while time.time() < deadline:
    try:
        p.produce(TOPIC, value, on_delivery=on_delivery)
    except BufferError:
        p.poll(0.05)
        continue
    p.poll(0)
while time.time() < deadline + 0.5:
    p.poll(0.1)
print("%.0f %d" % (delivered / SECONDS, throttles))
