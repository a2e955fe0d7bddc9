// The plumbing every black-box agent here shares: connect, consume, reject, publish, stop.
"use strict";
const amqp = require("amqplib");
const { Client } = require("pg");
const { parse } = require("./envelope");

function env(name) {
  const value = process.env[name];
  if (!value) {
    console.error(`${name} is not set`);
    process.exit(2);
  }
  return value;
}

// Run `handle(envelope, tools)` on every delivery. `accepts` lists the input types; anything
// else, or bytes that are not an envelope, is rejected without requeue (the harness's queue
// setup dead-letters it). `handle` throws Reject for a payload it will not process.
class Reject extends Error {}

async function serve({ accepts, setup, handle, prefetch = 4 }) {
  const db = new Client({ connectionString: env("HARNESS_DATABASE_URL") });
  await db.connect();
  const schema = env("HARNESS_DATABASE_SCHEMA");
  await db.query(`SET search_path TO "${schema.replace(/"/g, "")}"`);
  await setup(db);
  const conn = await amqp.connect(env("HARNESS_BROKER_URL"), { noDelay: true });
  conn.on("error", (err) => { console.error("broker connection:", err.message); process.exit(3); });
  conn.on("close", () => process.exit(3));
  const ch = await conn.createConfirmChannel();
  await ch.prefetch(prefetch);
  const exchange = env("HARNESS_EXCHANGE");
  const publish = (message) => new Promise((resolve, reject) => {
    ch.publish(exchange, message.type, Buffer.from(JSON.stringify(message)),
      { persistent: true, headers: { "x-correlation-id": message.correlation_id } },
      (err) => (err ? reject(err) : resolve()));
  });
  // Deliveries are handled one at a time, in order (prefetch only fills the window).
  let chain = Promise.resolve();
  await ch.consume(env("HARNESS_QUEUE"), (msg) => {
    if (msg === null) process.exit(3); // consumer cancelled by the broker
    chain = chain.then(async () => {
      const input = parse(msg.content);
      if (input === null || !accepts.includes(input.type)) {
        ch.reject(msg, false);
        return;
      }
      try {
        await handle(input, { db, publish });
        ch.ack(msg);
      } catch (err) {
        if (err instanceof Reject) ch.reject(msg, false);
        else { console.error("handler failed:", err); process.exit(1); }
      }
    });
  }, { noAck: false });
  const stop = async () => { try { await conn.close(); await db.end(); } finally { process.exit(0); } };
  process.on("SIGTERM", stop);
  process.on("SIGINT", stop);
}

module.exports = { serve, Reject };
