// The envelope rules of docs/envelope.md, in plain Node.js (no harness code).
"use strict";
const crypto = require("crypto");

function deriveId(parts, length = 32) {
  return crypto.createHash("sha256").update(parts.join("|"), "utf8").digest("hex").slice(0, length);
}

const REQUIRED = ["message_id", "correlation_id", "causation_id", "type", "schema_version",
  "idempotency_key", "producer", "produced_at", "trace", "payload"];

// True when an object in `text` (valid JSON) names a key twice: JSON.parse keeps the last one
// silently, so two readers could see two payloads (docs/envelope.md refuses such bytes).
function hasDuplicateKeys(text) {
  const stack = []; // per open container: its keys (object) or null (array)
  let expectKey = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c === '"') {
      let j = i + 1;
      while (text[j] !== '"') j += text[j] === "\\" ? 2 : 1;
      if (expectKey) {
        const key = JSON.parse(text.slice(i, j + 1)); // "\u0074ype" is "type"
        const keys = stack[stack.length - 1];
        if (keys.has(key)) return true;
        keys.add(key);
        expectKey = false;
      }
      i = j;
    } else if (c === "{") {
      stack.push(new Set());
      expectKey = true;
    } else if (c === "[") {
      stack.push(null);
    } else if (c === "}" || c === "]") {
      stack.pop();
    } else if (c === ",") {
      expectKey = stack[stack.length - 1] instanceof Set;
    }
  }
  return false;
}

// Parse bytes into an envelope, or return null (the caller rejects the message).
function parse(buffer) {
  if (buffer.length > 1000000) return null;
  let env;
  const text = buffer.toString("utf8");
  try {
    env = JSON.parse(text);
  } catch (err) {
    return null;
  }
  if (hasDuplicateKeys(text)) return null;
  if (env === null || typeof env !== "object" || Array.isArray(env)) return null;
  for (const key of REQUIRED) if (!(key in env)) return null;
  if ("envelope" in env && env.envelope !== 1) return null;
  const id = (v) => typeof v === "string" && v !== "" && v.length <= 512 && !v.includes("\u0000");
  for (const key of ["message_id", "correlation_id", "type", "idempotency_key", "produced_at"]) {
    if (!id(env[key])) return null;
  }
  if (env.causation_id !== null && !id(env.causation_id)) return null;
  if (!Number.isInteger(env.schema_version) || env.schema_version !== 1) return null;
  const pr = env.producer;
  if (!pr || typeof pr !== "object" || typeof pr.agent !== "string" || typeof pr.version !== "string") {
    return null;
  }
  const tp = env.trace && env.trace.traceparent;
  if (typeof tp !== "string" || !/^00-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$/.test(tp)) return null;
  if (env.payload === null || typeof env.payload !== "object") return null;
  return env;
}

// A child envelope of `parent` (docs/envelope.md, "A child envelope").
function child(parent, { agent, version, type, schemaVersion = 1, payload, index = 0 }) {
  const step = `${agent}:${type}:${index}`;
  const [, traceId, , flags] = parent.trace.traceparent.split("-");
  return {
    envelope: 1,
    message_id: deriveId(["msg", parent.message_id, step]),
    correlation_id: parent.correlation_id,
    causation_id: parent.message_id,
    type,
    schema_version: schemaVersion,
    idempotency_key: deriveId(["idem", parent.idempotency_key, step]),
    producer: { agent, version },
    produced_at: new Date().toISOString().replace(/\.(\d{3})Z$/, ".$1000Z"),
    trace: { traceparent: `00-${traceId}-${deriveId(["span", traceId, step], 16)}-${flags}`,
      tracestate: parent.trace.tracestate || "" },
    payload,
  };
}

function effectKey(input, agent, effect) {
  return deriveId(["effect", input.idempotency_key, agent, effect]);
}

module.exports = { deriveId, parse, child, effectKey };
