// Eclipse Tahu's JavaScript Sparkplug B codec (npm sparkplug-payload) as an independent implementation:
//   node tahu_codec.js decode   base64 payload on stdin → JSON (Long as number, Buffers as base64)
//   node tahu_codec.js encode   JSON payload on stdin  → base64 protobuf
"use strict";
const sparkplug = require("sparkplug-payload").get("spBv1.0");

function plain(value) {
  if (value === null || value === undefined) return value;
  if (typeof value === "object" && typeof value.toNumber === "function") return value.toNumber();
  if (Buffer.isBuffer(value)) return value.toString("base64");
  if (Array.isArray(value)) return value.map(plain);
  if (typeof value === "object") {
    const out = {};
    for (const [k, v] of Object.entries(value)) out[k] = plain(v);
    return out;
  }
  return value;
}

let input = "";
process.stdin.on("data", (chunk) => { input += chunk; });
process.stdin.on("end", () => {
  if (process.argv[2] === "decode") {
    process.stdout.write(JSON.stringify(plain(sparkplug.decodePayload(Buffer.from(input.trim(), "base64")))));
  } else {
    process.stdout.write(Buffer.from(sparkplug.encodePayload(JSON.parse(input))).toString("base64"));
  }
});
