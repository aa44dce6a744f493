# confluent-kafka (librdkafka) over SASL against a Riffle broker.
# Usage: python3 confluent_sasl.py BOOTSTRAP PROTOCOL MECHANISM USER PASSWORD CA_FILE TOPIC
# Produces 20 records to TOPIC and reads them back, printing "ok"; prints
# "denied" if authentication fails instead.
import sys
from confluent_kafka import Consumer, KafkaError, KafkaException, Producer
from confluent_kafka.admin import AdminClient

bootstrap, protocol, mechanism, user, password, ca, topic = sys.argv[1:8]
conf = {
    "bootstrap.servers": bootstrap,
    "security.protocol": protocol,
    "sasl.mechanisms": mechanism,
    "sasl.username": user,
    "sasl.password": password,
    "ssl.ca.location": ca,
}

errors = []
def on_error(err):
    errors.append(err)

admin = AdminClient(dict(conf, error_cb=on_error))
try:
    admin.list_topics(timeout=10)
except KafkaException as e:
    admin.poll(1)  # delivers the error callbacks
    if any(err.code() == KafkaError._AUTHENTICATION for err in errors):
        print("denied")
        sys.exit(0)
    raise
if errors:
    raise SystemExit("errors: %s" % errors)

p = Producer(dict(conf, acks="all"))
delivered = []
for i in range(20):
    p.produce(topic, value=("v%d" % i).encode(), on_delivery=lambda err, msg: delivered.append(err))
p.flush(30)
if len(delivered) != 20 or any(delivered):
    raise SystemExit("produce: %s" % delivered)

c = Consumer(dict(conf, **{"group.id": "sasl-" + user + "-" + mechanism, "auto.offset.reset": "earliest"}))
c.subscribe([topic])
got = []
while len(got) < 20:
    m = c.poll(30)
    if m is None:
        raise SystemExit("consume: timed out after %d records" % len(got))
    if m.error():
        raise SystemExit("consume: %s" % m.error())
    got.append(m.value().decode())
c.close()
if got[:20] != ["v%d" % i for i in range(20)] and sorted(got) != sorted("v%d" % i for i in range(20)):
    raise SystemExit("consumed %s" % got)
print("ok")
