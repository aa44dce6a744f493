// kafkajs transactions against a Riffle broker.
// Usage: node kafkajs_txn.js BOOTSTRAP   (NODE_PATH must reach kafkajs)
// A transaction that sends records and the offsets of a group (sendOffsets)
// and commits; one that aborts. The group's offsets must be those of the
// committed transaction, and a read_committed consumer must see only its
// records. Prints "ok".
const { Kafka, logLevel } = require('kafkajs');

const bootstrap = process.argv[2];
const topic = 'kafkajs-txn';

function fail(msg) {
  console.error('FAIL: ' + msg);
  process.exit(1);
}

async function main() {
  const kafka = new Kafka({ clientId: 'riffle-e2e-txn', brokers: [bootstrap], logLevel: logLevel.WARN, retry: { retries: 10 } });
  const admin = kafka.admin();
  await admin.connect();
  await admin.createTopics({ topics: [{ topic, numPartitions: 1 }], waitForLeaders: true });

  const producer = kafka.producer({ transactionalId: 'kafkajs-txn-1', idempotent: true, maxInFlightRequests: 1 });
  await producer.connect();
  let txn = await producer.transaction();
  await txn.send({ topic, messages: [{ value: 'committed-0' }, { value: 'committed-1' }] });
  await txn.sendOffsets({ consumerGroupId: 'kafkajs-txn-group', topics: [{ topic, partitions: [{ partition: 0, offset: '7' }] }] });
  await txn.commit();

  txn = await producer.transaction();
  await txn.send({ topic, messages: [{ value: 'aborted-0' }] });
  await txn.sendOffsets({ consumerGroupId: 'kafkajs-txn-group', topics: [{ topic, partitions: [{ partition: 0, offset: '99' }] }] });
  await txn.abort();
  await producer.disconnect();

  const offsets = await admin.fetchOffsets({ groupId: 'kafkajs-txn-group', topics: [topic] });
  const committed = offsets[0].partitions[0].offset;
  if (committed !== '7') fail(`group offset ${committed}, want 7 (the committed transaction's)`);

  const consumer = kafka.consumer({ groupId: 'kafkajs-txn-reader', readUncommitted: false });
  await consumer.connect();
  await consumer.subscribe({ topic, fromBeginning: true });
  const seen = [];
  await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`read only ${JSON.stringify(seen)}`)), 30000);
    consumer.run({
      eachMessage: async ({ message }) => {
        seen.push(message.value.toString());
        if (seen.length >= 2) {
          clearTimeout(timer);
          setTimeout(resolve, 1000); // anything more would be aborted data
        }
      },
    }).catch(reject);
  });
  await consumer.disconnect();
  if (JSON.stringify(seen) !== JSON.stringify(['committed-0', 'committed-1'])) fail(`read_committed saw ${JSON.stringify(seen)}`);
  await admin.disconnect();
  console.log('ok');
}

main().catch((e) => fail(e.stack || String(e)));
