// kafkajs consumer groups against a Riffle broker.
// Usage: node kafkajs_group.js BOOTSTRAP   (NODE_PATH must reach kafkajs)
// Two consumers in one group share a topic's partitions and consume it all;
// after they disconnect (committing), a new consumer in the group gets only
// the records produced since.
const { Kafka, logLevel } = require('kafkajs');

const bootstrap = process.argv[2];
const topic = 'kafkajs-group';
const groupId = 'kafkajs-group-g';
const partitions = 4;

function fail(msg) {
  console.error('FAIL: ' + msg);
  process.exit(1);
}

async function produce(kafka, from, to) {
  const producer = kafka.producer();
  await producer.connect();
  const messages = [];
  for (let i = from; i < to; i++) messages.push({ value: `v${i}`, partition: i % partitions });
  await producer.send({ topic, messages, acks: -1 });
  await producer.disconnect();
}

// consumeUntil runs consumers in the group until want distinct values
// arrived, then disconnects them; it returns value -> consumer index.
async function consumeUntil(kafka, consumers, want) {
  const seen = new Map();
  let done;
  const all = new Promise((resolve) => { done = resolve; });
  const running = [];
  for (let c = 0; c < consumers; c++) {
    const consumer = kafka.consumer({ groupId, sessionTimeout: 6000, heartbeatInterval: 500 });
    await consumer.connect();
    await consumer.subscribe({ topic, fromBeginning: true });
    await consumer.run({
      eachMessage: async ({ message }) => {
        seen.set(message.value.toString(), c);
        if (seen.size >= want) done();
      },
    });
    running.push(consumer);
  }
  const timer = setTimeout(() => fail(`consumed ${seen.size} of ${want}`), 60000);
  await all;
  clearTimeout(timer);
  for (const consumer of running) await consumer.disconnect();
  return seen;
}

async function main() {
  const kafka = new Kafka({ clientId: 'riffle-e2e', brokers: [bootstrap], logLevel: logLevel.WARN, retry: { retries: 10 } });
  const admin = kafka.admin();
  await admin.connect();
  await admin.createTopics({ topics: [{ topic, numPartitions: partitions }], waitForLeaders: true });

  await produce(kafka, 0, 400);
  const first = await consumeUntil(kafka, 2, 400);
  const committed = await admin.fetchOffsets({ groupId, topics: [topic] });
  for (const p of committed[0].partitions) {
    if (Number(p.offset) !== 100) fail(`committed ${JSON.stringify(committed)}, want 100 per partition`);
  }
  const described = await admin.describeGroups([groupId]);
  if (described.groups[0].state !== 'Empty') fail(`group state ${described.groups[0].state}, want Empty`);

  await produce(kafka, 400, 500);
  const second = await consumeUntil(kafka, 1, 100);
  for (const v of second.keys()) {
    if (first.has(v)) fail(`${v} consumed again after the commit`);
  }
  await admin.disconnect();
  console.log('ok');
}

main().catch((e) => fail(e.stack || String(e)));
