import assert from "node:assert/strict";
import { healthWatch } from "./health_watch.ts";
import { HeardLiveness } from "../../health/heard.ts";
import { member } from "../../../tests/fixtures/members.ts";
import type { Member } from "../../members/member.ts";

const members = new Map<string, Member>([
  ["L", member("lead", "10.1.0.1", { publicKey: "L", role: "leader" })],
  ["R", member("relay", "10.1.0.2", { publicKey: "R", relay: true })],
  ["M", member("m", "10.1.0.3", { publicKey: "M" })],
]);

function setup(leader: boolean) {
  const calls: string[] = [];
  const heard = leader
    ? new HeardLiveness({
      sink: { recordHeard: () => {}, recordMissed: () => {} },
      probing: () => {},
    })
    : null;
  const w = healthWatch({
    watchPeer: (k, o) => calls.push(`watch ${k} probe=${o?.probe ?? true}`),
    unwatchPeer: (k) => calls.push(`unwatch ${k}`),
    member: (k) => members.get(k),
    kept: (k) => k === "L" || k === "R",
    heard,
  });
  return { calls, heard, w };
}

Deno.test("health watch: a node probes the peers it talks to, not its leaders (its sync does)", () => {
  const { calls, w } = setup(false);
  for (const k of ["L", "R", "M"]) w.watch(k);
  w.unwatch("M");
  assert.deepEqual(calls, [
    "watch L probe=false",
    "watch R probe=true",
    "watch M probe=true",
    "unwatch M",
  ]);
});

Deno.test("health watch: a leader probes the peers it keeps and follows the others by hellos", () => {
  const { calls, heard, w } = setup(true);
  for (const k of ["L", "R", "M"]) w.watch(k);
  assert.deepEqual(calls, ["watch L probe=true", "watch R probe=true", "watch M probe=false"]);
  assert.deepEqual(["L", "R", "M"].map((k) => heard!.follows(k)), [false, false, true]);
  w.unwatch("M");
  assert.equal(heard!.follows("M"), false);
  assert.equal(calls.at(-1), "unwatch M");
});
