// kafkajs through a partition leader change.
// Usage: node kafkajs_leader_change.js BOOTSTRAP TOPIC COUNT   (NODE_PATH must reach kafkajs)
// Produces COUNT records to partition 0 of TOPIC (acks=-1, idempotent), in
// batches of 100, prints "half" once the first COUNT/2 are acknowledged and
// waits for a line on stdin (the test kills the leader meanwhile), produces
// the rest, then consumes the topic through a consumer group from the
// start: every record once, in order, at offsets 0..COUNT-1. A send that
// fails after kafkajs's own retries fails the script. Prints "ok".
const readline = require('readline');
const { Kafka, logLevel } = require('kafkajs');

const [bootstrap, topic, countArg] = process.argv.slice(2);
const count = Number(countArg);
const batch = 100;

function fail(msg) {
  console.error('FAIL: ' + msg);
  process.exit(1);
}

const value = (i) => `js-${String(i).padStart(6, '0')}`;

async function produce(producer, from, to) {
  for (let b = from; b < to; b += batch) {
    const messages = [];
    for (let i = b; i < Math.min(b + batch, to); i++) messages.push({ value: value(i), partition: 0 });
    const acks = await producer.send({ topic, messages, acks: -1, timeout: 30000 });
    for (const a of acks) {
      if (a.errorCode !== 0) fail(`produce from ${b}: ${JSON.stringify(a)}`);
      if (Number(a.baseOffset) !== b) fail(`records from ${b} acknowledged at base offset ${a.baseOffset}`);
    }
  }
}

async function main() {
  const lines = readline.createInterface({ input: process.stdin });
  const nextLine = new Promise((resolve) => lines.once('line', resolve));
  // Retries long enough to outlast the new leader's election (seconds on a
  // loaded machine).
  const kafka = new Kafka({
    clientId: 'riffle-e2e-leader-change',
    brokers: bootstrap.split(','),
    logLevel: logLevel.NOTHING,
    retry: { retries: 30, initialRetryTime: 200, maxRetryTime: 3000 },
  });
  const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1 });
  await producer.connect();
  await produce(producer, 0, count / 2);
  console.log('half');
  await nextLine;
  lines.close();
  await produce(producer, count / 2, count);
  await producer.disconnect();

  const consumer = kafka.consumer({ groupId: 'kafkajs-leader-change', sessionTimeout: 10000, heartbeatInterval: 1000 });
  await consumer.connect();
  await consumer.subscribe({ topic, fromBeginning: true });
  let want = 0;
  const done = new Promise((resolve) => {
    consumer.run({
      eachMessage: async ({ partition, message }) => {
        const got = message.value.toString();
        if (partition !== 0 || Number(message.offset) !== want || got !== value(want)) {
          fail(`partition ${partition} offset ${message.offset} holds ${got}, want offset ${want} ${value(want)}`);
        }
        want++;
        if (want === count) resolve();
      },
    }).catch((e) => fail(e.stack || String(e)));
  });
  const timeout = setTimeout(() => fail(`consumed ${want} of ${count} in 120 s`), 120000);
  await done;
  clearTimeout(timeout);
  await consumer.disconnect();
  console.log('ok');
}

main().catch((e) => fail(e.stack || String(e)));
