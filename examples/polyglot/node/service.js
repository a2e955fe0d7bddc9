// The plumbing every black-box agent here shares: connect, consume, reject, publish, stop.
"use strict";
const amqp = require("amqplib");
const { Client } = require("pg");
const path = require("path");
const { parse } = require("./envelope");
const { loadContracts } = require("./schema");

function env(name) {
  const value = process.env[name];
  if (!value) {
    console.error(`${name} is not set`);
    process.exit(2);
  }
  return value;
}

// Run `handle(envelope, tools)` on every delivery. `accepts` lists the input types with their
// schema versions ("payment.authorized@1"); bytes that are not an envelope, another type or a
// payload that fails its contract (CONTRACTS_DIR/TYPE/vN.json, default the repository's
// contracts/) are rejected without requeue (the harness's queue setup dead-letters them), the
// reason written to stderr. `handle` throws Reject for a payload it will not process.
class Reject extends Error {}

const CONTRACTS = process.env.CONTRACTS_DIR || path.resolve(__dirname, "..", "..", "..", "contracts");

async function serve({ accepts, setup, handle, prefetch = 4 }) {
  const validate = loadContracts(CONTRACTS, accepts);
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
      const problem = input === null ? "not an envelope" : validate(input);
      if (problem !== null) {
        console.error(`rejected ${input ? input.message_id : "a message"}: ${problem}`);
        ch.reject(msg, false);
        return;
      }
      try {
        await handle(input, { db, publish });
        ch.ack(msg);
      } catch (err) {
        if (err instanceof Reject) {
          console.error(`rejected ${input.message_id}: ${err.message}`);
          ch.reject(msg, false);
        }
        else { console.error("handler failed:", err); process.exit(1); }
      }
    });
  }, { noAck: false });
  const stop = async () => { try { await conn.close(); await db.end(); } finally { process.exit(0); } };
  process.on("SIGTERM", stop);
  process.on("SIGINT", stop);
}

module.exports = { serve, Reject };
