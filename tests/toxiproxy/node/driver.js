// Drives a Toxiproxy API through toxiproxy-node-client for the conformance suite.
// Protocol: one JSON command per stdin line {"id", "op", "args"}; one JSON reply per stdout
// line {"id", "ok": true, "result"} or {"id", "ok": false, "status", "error"}.
"use strict";
const readline = require("readline");
const { Toxiproxy } = require("toxiproxy-node-client");

const url = process.argv[2];
const client = new Toxiproxy(url);

function plainProxy(p) {
  return { name: p.name, listen: p.listen, upstream: p.upstream, enabled: p.enabled };
}

function plainToxic(t) {
  return { name: t.name, type: t.type, stream: t.stream, toxicity: t.toxicity,
           attributes: t.attributes };
}

const ops = {
  version: async () => client.getVersion(),
  create: async (a) => plainProxy(await client.createProxy(a)),
  get: async (a) => plainProxy(await client.get(a.name)),
  list: async () => {
    const all = await client.getAll();
    const out = {};
    for (const name of Object.keys(all)) out[name] = plainProxy(all[name]);
    return out;
  },
  update: async (a) => {
    const proxy = await client.get(a.name);
    return plainProxy(await proxy.update(a.body));
  },
  remove: async (a) => { await (await client.get(a.name)).remove(); return null; },
  populate: async (a) => {
    const res = await client.populate(a.proxies);
    return Object.values(res).map(plainProxy);
  },
  addToxic: async (a) => {
    const proxy = await client.get(a.proxy);
    return plainToxic(await proxy.addToxic(a.body));
  },
  getToxic: async (a) => plainToxic(await (await client.get(a.proxy)).getToxic(a.name)),
  updateToxic: async (a) => {
    const toxic = await (await client.get(a.proxy)).getToxic(a.name);
    return plainToxic(await toxic.update(a.body));
  },
  removeToxic: async (a) => {
    const toxic = await (await client.get(a.proxy)).getToxic(a.name);
    await toxic.remove();
    return null;
  },
  reset: async () => { await client.reset(); return null; },
};

const rl = readline.createInterface({ input: process.stdin });
let chain = Promise.resolve();
rl.on("line", (line) => {
  chain = chain.then(async () => {
    const cmd = JSON.parse(line);
    let reply;
    try {
      const fn = ops[cmd.op];
      if (!fn) throw new Error(`unknown op ${cmd.op}`);
      reply = { id: cmd.id, ok: true, result: await fn(cmd.args || {}) };
    } catch (e) {
      const m = /status code (\d+)/.exec(String(e && e.message));
      reply = { id: cmd.id, ok: false, status: m ? Number(m[1]) : 0, error: String(e && e.message) };
    }
    process.stdout.write(JSON.stringify(reply) + "\n");
  });
});
rl.on("close", () => { chain.then(() => process.exit(0)); });
