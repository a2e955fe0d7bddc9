// The payments notifier as a black box: tells the customer once per payment outcome.
"use strict";
const { serve } = require("./service");
const { child, effectKey } = require("./envelope");

const AGENT = process.env.HARNESS_AGENT || "notification";

serve({
  accepts: ["ledger.posted@1", "payment.declined@1"],
  async setup(db) {
    await db.query(`CREATE TABLE IF NOT EXISTS effects (
      key text PRIMARY KEY, correlation_id text NOT NULL, effect text NOT NULL)`);
  },
  async handle(input, { db, publish }) {
    const p = input.payload;
    const kind = input.type === "ledger.posted" ? "receipt" : "decline";
    const text = kind === "receipt"
      ? `Paid ${(p.amount_cents / 100).toFixed(2)} ${p.currency}` : "Your payment was declined";
    await db.query(
      "INSERT INTO effects VALUES ($1, $2, 'notification.send') ON CONFLICT (key) DO NOTHING",
      [effectKey(input, AGENT, "notification.send"), input.correlation_id]);
    await publish(child(input, { agent: AGENT, version: "node-1", type: "notification.sent",
      payload: { payment_id: p.payment_id, customer_id: p.customer_id, kind, text } }));
  },
});
