// A small JSON Schema (draft-07 subset) validator with no dependencies: the keywords the
// payments contracts use. A schema with any other keyword is refused when it is loaded, so a
// contract this validator cannot judge stops the service at start instead of passing
// everything.
"use strict";
const fs = require("fs");
const path = require("path");

const ANNOTATIONS = new Set(["$schema", "$id", "title", "description", "examples", "default",
  "$comment", "format"]);
const KEYWORDS = new Set(["type", "properties", "required", "additionalProperties", "enum",
  "const", "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "minLength",
  "maxLength", "pattern", "items", "minItems", "maxItems"]);

function typeOf(value) {
  if (value === null) return "null";
  if (Array.isArray(value)) return "array";
  if (typeof value === "number") return Number.isInteger(value) ? "integer" : "number";
  return typeof value; // string, boolean, object
}

function hasType(value, type) {
  const actual = typeOf(value);
  return actual === type || (type === "number" && actual === "integer");
}

// Compile `schema` (checking every keyword is known) into a function value -> problem | null.
function compile(schema, where) {
  if (schema === true || schema === undefined) return () => null;
  if (schema === false) return (v, at) => `${at}: no value is allowed here`;
  if (typeof schema !== "object" || schema === null) throw new Error(`${where}: not a schema`);
  for (const key of Object.keys(schema)) {
    if (!KEYWORDS.has(key) && !ANNOTATIONS.has(key)) {
      throw new Error(`${where}: keyword ${JSON.stringify(key)} is not supported by schema.js`);
    }
  }
  const props = {};
  for (const [name, sub] of Object.entries(schema.properties || {})) {
    props[name] = compile(sub, `${where}.properties.${name}`);
  }
  const extra = typeof schema.additionalProperties === "object"
    ? compile(schema.additionalProperties, `${where}.additionalProperties`) : null;
  const items = schema.items !== undefined ? compile(schema.items, `${where}.items`) : null;
  const pattern = schema.pattern !== undefined ? new RegExp(schema.pattern, "u") : null;
  const types = schema.type === undefined ? null : [].concat(schema.type);
  return (value, at) => {
    if (types && !types.some((t) => hasType(value, t))) {
      return `${at}: expected ${types.join(" or ")}, got ${typeOf(value)}`;
    }
    if (schema.enum && !schema.enum.some((x) => JSON.stringify(x) === JSON.stringify(value))) {
      return `${at}: ${JSON.stringify(value)} is not one of ${JSON.stringify(schema.enum)}`;
    }
    if ("const" in schema && JSON.stringify(schema.const) !== JSON.stringify(value)) {
      return `${at}: must be ${JSON.stringify(schema.const)}`;
    }
    if (typeof value === "number") {
      if (schema.minimum !== undefined && value < schema.minimum) return `${at}: below ${schema.minimum}`;
      if (schema.maximum !== undefined && value > schema.maximum) return `${at}: above ${schema.maximum}`;
      if (schema.exclusiveMinimum !== undefined && value <= schema.exclusiveMinimum) {
        return `${at}: not above ${schema.exclusiveMinimum}`;
      }
      if (schema.exclusiveMaximum !== undefined && value >= schema.exclusiveMaximum) {
        return `${at}: not below ${schema.exclusiveMaximum}`;
      }
    }
    if (typeof value === "string") {
      const length = [...value].length; // code points, as JSON Schema counts
      if (schema.minLength !== undefined && length < schema.minLength) return `${at}: too short`;
      if (schema.maxLength !== undefined && length > schema.maxLength) return `${at}: too long`;
      if (pattern && !pattern.test(value)) return `${at}: does not match ${schema.pattern}`;
    }
    if (Array.isArray(value)) {
      if (schema.minItems !== undefined && value.length < schema.minItems) return `${at}: too few items`;
      if (schema.maxItems !== undefined && value.length > schema.maxItems) return `${at}: too many items`;
      if (items) {
        for (let i = 0; i < value.length; i += 1) {
          const problem = items(value[i], `${at}[${i}]`);
          if (problem) return problem;
        }
      }
    }
    if (typeOf(value) === "object") {
      for (const name of schema.required || []) {
        if (!Object.prototype.hasOwnProperty.call(value, name)) return `${at}: missing ${name}`;
      }
      for (const [name, sub] of Object.entries(value)) {
        const check = Object.prototype.hasOwnProperty.call(props, name) ? props[name] : null;
        if (check) {
          const problem = check(sub, `${at}.${name}`);
          if (problem) return problem;
        } else if (schema.additionalProperties === false) {
          return `${at}: unexpected field ${name}`;
        } else if (extra) {
          const problem = extra(sub, `${at}.${name}`);
          if (problem) return problem;
        }
      }
    }
    return null;
  };
}

// The validators of `types` (["payment.authorized@1", ...]) from a contracts folder laid out
// as TYPE/vN.json; returns (envelope) -> problem | null.
function loadContracts(folder, types) {
  const checks = {};
  for (const ref of types) {
    const [type, version] = ref.split("@");
    const file = path.join(folder, type, `v${version}.json`);
    checks[`${type}@${version}`] = compile(JSON.parse(fs.readFileSync(file, "utf8")), file);
  }
  return (input) => {
    const check = checks[`${input.type}@${input.schema_version}`];
    if (!check) return `no contract for ${input.type}@${input.schema_version}`;
    return check(input.payload, "payload");
  };
}

module.exports = { compile, loadContracts };
