// kafkajs with SCRAM over SASL_SSL against a Riffle broker.
// Usage: node kafkajs_sasl.js BOOTSTRAP MECHANISM USER PASSWORD CA_FILE TOPIC
// Produces and consumes 10 records, printing "ok"; prints "denied" if
// authentication fails.
const fs = require('fs');
const { Kafka, logLevel } = require('kafkajs');

const [bootstrap, mechanism, username, password, caFile, topic] = process.argv.slice(2);

async function main() {
  const kafka = new Kafka({
    clientId: 'riffle-e2e-sasl', brokers: [bootstrap], logLevel: logLevel.NOTHING,
    ssl: { ca: [fs.readFileSync(caFile, 'utf8')], servername: 'localhost' },
    sasl: { mechanism, username, password },
    retry: { retries: 2 },
  });
  const admin = kafka.admin();
  try {
    await admin.connect();
  } catch (e) {
    if (/SASL|[Aa]uthentication/.test(String(e))) {
      console.log('denied');
      return;
    }
    throw e;
  }
  await admin.createTopics({ topics: [{ topic, numPartitions: 1 }], waitForLeaders: true });
  await admin.disconnect();
  const producer = kafka.producer();
  await producer.connect();
  const messages = [];
  for (let i = 0; i < 10; i++) messages.push({ value: `v${i}` });
  await producer.send({ topic, messages, acks: -1 });
  await producer.disconnect();

  const consumer = kafka.consumer({ groupId: 'kafkajs-sasl' });
  await consumer.connect();
  await consumer.subscribe({ topic, fromBeginning: true });
  const got = [];
  await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`consumed ${got.length} of 10`)), 60000);
    consumer.run({ eachMessage: async ({ message }) => {
      got.push(message.value.toString());
      if (got.length === 10) { clearTimeout(timer); resolve(); }
    } });
  });
  await consumer.disconnect();
  console.log('ok');
}

main().catch((e) => { console.error('FAIL: ' + (e.stack || e)); process.exit(1); });
