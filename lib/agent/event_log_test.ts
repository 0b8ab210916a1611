/**
 * DeviceEventLog: a crowd's handshakes and endpoint changes are written up to a burst each, then
 * summed once an interval (a timer the test fires) and at close; a handshake given up on is
 * always a warning; initiations and key wipes are debug lines; a held-back line makes no fields.
 */
import assert from "node:assert/strict";
import { createLogger } from "../log/logger.ts";
import { DeviceEventLog, EVENT_LOG_BURST } from "./event_log.ts";

function setup(level: "debug" | "info" = "info") {
  const lines: { level: string; msg: string; [k: string]: unknown }[] = [];
  const logger = createLogger({
    level,
    format: "json",
    sink: (line: string) => void lines.push(JSON.parse(line)),
  });
  const timers: (() => void)[] = [];
  const log = new DeviceEventLog(logger, {
    now: () => 0,
    timer: (fn) => {
      timers.push(fn);
      return () => {};
    },
  });
  let asked = 0;
  const fields = (peer: string) => {
    asked++;
    return { peer, name: `n-${peer}` };
  };
  return { lines, timers, log, fields, asked: () => asked };
}

Deno.test("device event log: a crowd's handshakes past the burst are summed, without making their fields", () => {
  const t = setup();
  for (let i = 0; i < 100; i++) {
    t.log.event({ type: "handshake-complete", peer: `k${i}`, role: "responder" }, t.fields);
  }
  assert.equal(t.lines.length, EVENT_LOG_BURST);
  assert.equal(t.asked(), EVENT_LOG_BURST, "fields only for the lines written");
  assert.deepEqual(t.lines[0], {
    ts: t.lines[0].ts,
    level: "info",
    msg: "handshake-complete",
    peer: "k0",
    name: "n-k0",
    role: "responder",
  });
  // Another kind has its own budget.
  t.log.event({ type: "endpoint-changed", peer: "k1", endpoint: "192.0.2.1:51820" }, t.fields);
  assert.equal(t.lines.at(-1)!.msg, "endpoint-changed");
  assert.equal(t.timers.length, 1);
  t.timers[0]();
  const sum = t.lines.at(-1)!;
  assert.equal(sum.level, "info");
  assert.equal(sum.msg, `${100 - EVENT_LOG_BURST} more handshake-complete lines in the last 10 s`);
  assert.equal(sum.more, 100 - EVENT_LOG_BURST);
  assert.equal(sum.kind, "handshake-complete");
});

Deno.test("device event log: give-ups are warnings whatever the budget; debug kinds only at debug; close says what was held", () => {
  const t = setup();
  for (let i = 0; i < 30; i++) {
    t.log.event({ type: "handshake-give-up", peer: `k${i}`, attempts: 20 }, t.fields);
  }
  assert.equal(t.lines.length, 30);
  assert.ok(t.lines.every((l) => l.level === "warn" && l.attempts === 20));
  t.log.event({ type: "handshake-initiated", peer: "k1" }, t.fields);
  t.log.event({ type: "keys-zeroed", peer: "k1" }, t.fields);
  assert.equal(t.lines.length, 30, "no debug lines at info");
  assert.equal(t.asked(), 30);
  for (let i = 0; i < EVENT_LOG_BURST + 3; i++) {
    t.log.event({ type: "handshake-complete", peer: "k", role: "initiator" }, t.fields);
  }
  t.log.close();
  assert.equal(t.lines.at(-1)!.msg, "3 more handshake-complete lines in the last 10 s");

  const d = setup("debug");
  d.log.event({ type: "handshake-initiated", peer: "k1" }, d.fields);
  d.log.event({ type: "keys-zeroed", peer: "k1" }, d.fields);
  assert.deepEqual(d.lines.map((l) => [l.level, l.msg, l.peer]), [
    ["debug", "handshake-initiated", "k1"],
    ["debug", "keys-zeroed", "k1"],
  ]);
});
