import assert from "node:assert/strict";
import { ArgumentError } from "./errors.ts";
import {
  formatAnswer,
  formatLeader,
  formatPublishResult,
  formatServiceTable,
  parseJsonArgument,
  publishData,
  serviceErrorText,
} from "./service_format.ts";
import { ServiceError } from "../lib/services/mod.ts";

Deno.test("service CLI: JSON arguments, publish data, errors and answers as text", () => {
  assert.deepEqual(parseJsonArgument('{"a": [1, "x"]}'), { a: [1, "x"] });
  assert.equal(parseJsonArgument(undefined), null);
  assert.equal(parseJsonArgument('"hi"'), "hi");
  assert.throws(() => parseJsonArgument("{a: 1"), ArgumentError);
  assert.throws(() => parseJsonArgument("hello"), /the params are not JSON .*'"hello"'/);
  // JSON.parse makes Infinity of these, which would be sent as null.
  assert.throws(() => parseJsonArgument("1e999"), /the params are not JSON \(a number too large\)/);
  assert.throws(() => parseJsonArgument('{"a": [-1e400]}'), ArgumentError);
  assert.deepEqual(parseJsonArgument('{"a": 1e300}'), { a: 1e300 });
  assert.deepEqual(publishData('{"v": 1}'), { v: 1 });
  assert.equal(publishData("42"), 42);
  assert.equal(publishData("hello there"), "hello there");
  assert.equal(publishData(""), "");
  assert.equal(
    serviceErrorText(new ServiceError("remote-error", "boom", { instance: "n1", status: 500 })),
    "remote-error: boom (from n1, HTTP 500)",
  );
  assert.equal(serviceErrorText(new ServiceError("no-instance", "nobody")), "no-instance: nobody");
  assert.equal(
    formatAnswer({ a: new Uint8Array([255]) }),
    '{\n  "a": {\n    "base64": "/w=="\n  }\n}',
  );
  assert.equal(formatAnswer(undefined), "null");
  assert.equal(
    formatPublishResult({ local: 1, nodes: 3, acked: 2, unacked: ["n3"] }),
    "delivered to 1 local subscriber and sent to 3 nodes (2 acknowledged); " +
      "no acknowledgement from n3",
  );
  assert.equal(
    formatPublishResult({ local: 0, nodes: 1, acked: 1, unacked: [] }),
    "delivered to 0 local subscribers and sent to 1 node (1 acknowledged)",
  );
});

Deno.test("service CLI: the service table and the leader line", () => {
  const leader = { node: "a", address: "10.0.0.2", token: 3, expiresAt: "x" };
  const text = formatServiceTable([
    {
      name: "echo",
      local: true,
      instances: [
        { node: "a", address: "10.0.0.2", local: true, rpc: true, healthy: true },
        {
          node: "b",
          address: "10.0.0.3",
          local: false,
          rpc: true,
          healthy: false,
          reason: "node-down",
        },
        {
          node: "c",
          address: "10.0.0.4",
          local: false,
          rpc: true,
          healthy: false,
          reason: "check-failing",
        },
        {
          node: "d",
          address: "10.0.0.5",
          local: false,
          rpc: true,
          healthy: false,
          reason: "unanswered",
        },
        {
          node: "e",
          address: "10.0.0.6",
          local: false,
          rpc: true,
          healthy: false,
          reason: "ejected",
        },
      ],
      leader,
    },
    { name: "web", local: false, instances: [], leader: null },
  ]);
  assert.equal(
    text,
    [
      "SERVICE  INSTANCES                                                         LEADER",
      "echo     a* (healthy), b (down), c (failing), d (unanswered), e (ejected)  a (10.0.0.2)",
      "web      -                                                                 -",
    ].join("\n"),
  );
  assert.equal(formatLeader(leader), "a 10.0.0.2");
  assert.equal(formatLeader({ ...leader, address6: "fd00::2" }), "a 10.0.0.2 fd00::2");
});
