// kafkajs (classic encodings only) against a Riffle broker.
// Usage: node kafkajs_client.js BOOTSTRAP   (NODE_PATH must reach kafkajs)
// Creates a topic, produces with and without gzip (idempotent, acks=-1),
// checks the watermarks and offsets by timestamp, lists and refuses a
// reassignment, deletes the topic.
// kafkajs can only consume through a consumer group; that test arrives with
// the group coordinator.
const { Kafka, CompressionTypes, logLevel } = require('kafkajs');

const bootstrap = process.argv[2];
const topic = 'kafkajs-roundtrip';
const count = 1000;
const baseTs = Date.now() - 3600 * 1000;

function fail(msg) {
  console.error('FAIL: ' + msg);
  process.exit(1);
}

async function main() {
  const kafka = new Kafka({ clientId: 'riffle-e2e', brokers: [bootstrap], logLevel: logLevel.WARN, retry: { retries: 10 } });
  const admin = kafka.admin();
  await admin.connect();
  await admin.createTopics({ topics: [{ topic, numPartitions: 2 }], waitForLeaders: true });

  const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1 });
  await producer.connect();
  for (let batch = 0; batch < count / 100; batch++) {
    const messages = [];
    for (let i = batch * 100; i < (batch + 1) * 100; i++) {
      messages.push({ key: `key-${i}`, value: `value-${i}`, partition: i % 2, timestamp: String(baseTs + i), headers: { i: String(i) } });
    }
    const acks = await producer.send({ topic, messages, acks: -1, compression: batch % 2 ? CompressionTypes.GZIP : CompressionTypes.None });
    for (const a of acks) {
      if (a.errorCode !== 0) fail(`produce batch ${batch}: ${JSON.stringify(a)}`);
    }
  }
  await producer.disconnect();

  const offsets = await admin.fetchTopicOffsets(topic);
  for (const p of offsets) {
    if (Number(p.low) !== 0 || Number(p.high) !== count / 2) fail(`partition ${p.partition}: ${p.low}..${p.high}, want 0..${count / 2}`);
  }
  // Record i has timestamp baseTs+i and sits at offset i/2 of partition i%2.
  const byTime = await admin.fetchTopicOffsetsByTimestamp(topic, baseTs + 301);
  const p1 = byTime.find((p) => p.partition === 1);
  if (Number(p1.offset) !== 150) fail(`offset by timestamp in partition 1: ${p1.offset}, want 150`);

  // Reassignment (KIP-455): one broker can move nothing, but both APIs
  // answer kafkajs: nothing in progress, and a target on a broker that is
  // not registered refused per partition.
  const listed = await admin.listPartitionReassignments({ topics: [{ topic, partitions: [0, 1] }] });
  if (listed.topics.length !== 0) fail(`reassignments listed: ${JSON.stringify(listed)}`);
  let refused = null;
  try {
    await admin.alterPartitionReassignments({ topics: [{ topic, partitionAssignment: [{ partition: 0, replicas: [99] }] }] });
  } catch (e) {
    refused = e;
  }
  const causes = refused && refused.errors ? refused.errors.map(e => e.type) : [];
  if (causes.length !== 1 || causes[0] !== 'INVALID_REPLICA_ASSIGNMENT') fail(`reassigning to broker 99: ${refused}, causes ${causes}`);

  await admin.deleteTopics({ topics: [topic] });
  await admin.disconnect();
  console.log('ok');
}

main().catch((e) => fail(e.stack || String(e)));
