/** VersionLog: the keys touched since a version, and null once the log no longer reaches back. */
import assert from "node:assert/strict";
import type { Member } from "../../members/member.ts";
import { VERSION_LOG_MAX, VersionLog } from "./version_log.ts";

const sorted = (s: Set<string> | null) => s && [...s].sort();

Deno.test("version log: the keys touched since a version, each once", () => {
  const log = new VersionLog();
  log.add([{ version: 2, keys: ["a"] }, { version: 3, keys: ["b", "a"] }]);
  log.add([{ version: 4, keys: ["c"] }]);
  assert.deepEqual(sorted(log.keysSince(1, 4)), ["a", "b", "c"]);
  assert.deepEqual(sorted(log.keysSince(2, 4)), ["a", "b", "c"]);
  assert.deepEqual(sorted(log.keysSince(3, 4)), ["c"]);
  assert.deepEqual(sorted(log.keysSince(4, 4)), []);
  // Ahead of the state (a node of another leader's newer state): nothing to send.
  assert.deepEqual(sorted(log.keysSince(9, 4)), []);
});

Deno.test("version log: before its first version, or empty, it cannot say (null)", () => {
  const empty = new VersionLog();
  assert.equal(empty.keysSince(1, 2), null);
  const log = new VersionLog();
  log.add([{ version: 5, keys: ["a"] }]);
  assert.equal(log.keysSince(3, 5), null);
  assert.deepEqual(sorted(log.keysSince(4, 5)), ["a"]);
});

Deno.test("version log: keeps the last VERSION_LOG_MAX versions", () => {
  const log = new VersionLog();
  const n = VERSION_LOG_MAX + 10;
  for (let v = 2; v < 2 + n; v++) log.add([{ version: v, keys: [`k${v}`] }]);
  const last = 1 + n;
  const oldest = last - VERSION_LOG_MAX + 1;
  assert.equal(log.keysSince(oldest - 2, last), null);
  assert.equal(log.keysSince(oldest - 1, last)?.size, VERSION_LOG_MAX);
});

Deno.test("version log: changes since a version are copies to upsert and keys to remove", () => {
  const log = new VersionLog();
  log.add([{ version: 2, keys: ["a", "b"] }, { version: 3, keys: ["c"] }]);
  const a = { name: "a", publicKey: "a" } as Member;
  const held = new Map([["a", a]]);
  const changes = log.changesSince(1, 3, (k) => held.get(k))!;
  assert.deepEqual(changes.upsert, [a]);
  assert.notEqual(changes.upsert[0], a, "a copy");
  assert.deepEqual(changes.remove.sort(), ["b", "c"]);
  assert.deepEqual(log.changesSince(3, 3, (k) => held.get(k)), { upsert: [], remove: [] });
  assert.equal(log.changesSince(0, 3, (k) => held.get(k)), null);
});
