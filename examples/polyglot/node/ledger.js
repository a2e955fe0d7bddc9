// The payments ledger as a black box: posts a debit and a credit per authorized payment, once.
// LEDGER_DEDUP=off is the broken variant: no unique key, every delivery posts again.
"use strict";
const { serve } = require("./service");
const { child, effectKey } = require("./envelope");

const DEDUP = process.env.LEDGER_DEDUP !== "off";
const AGENT = process.env.HARNESS_AGENT || "ledger";

// An account name PostgreSQL can store: ids are any JSON string (NUL included), so they are
// kept JSON-escaped ("customer:\"c-1\"").
const account = (kind, id) => `${kind}:${JSON.stringify(id)}`;

serve({
  accepts: ["payment.authorized@1"],
  async setup(db) {
    await db.query(`CREATE TABLE IF NOT EXISTS effects (
      key text ${DEDUP ? "PRIMARY KEY" : ""}, correlation_id text NOT NULL, effect text NOT NULL)`);
    await db.query(`CREATE TABLE IF NOT EXISTS postings (
      key text NOT NULL, account text NOT NULL, debit bigint NOT NULL, credit bigint NOT NULL)`);
  },
  async handle(input, { db, publish }) {
    const p = input.payload;
    const key = effectKey(input, AGENT, "ledger.post");
    await db.query("BEGIN");
    try {
      const sql = "INSERT INTO effects (key, correlation_id, effect) VALUES ($1, $2, 'ledger.post')"
        + (DEDUP ? " ON CONFLICT (key) DO NOTHING" : "");
      const res = await db.query(sql, [key, input.correlation_id]);
      if (res.rowCount === 1) {
        await db.query("INSERT INTO postings VALUES ($1, $2, $3, 0), ($1, $4, 0, $3)",
          [key, account("customer", p.customer_id), p.amount_cents, account("merchant", p.merchant_id)]);
      }
      await db.query("COMMIT");
    } catch (err) {
      await db.query("ROLLBACK");
      throw err;
    }
    await publish(child(input, { agent: AGENT, version: "node-1", type: "ledger.posted", payload: {
      payment_id: p.payment_id, amount_cents: p.amount_cents, currency: p.currency,
      customer_id: p.customer_id, merchant_id: p.merchant_id, entries: 2,
      authorization_code: p.authorization_code } }));
  },
});
