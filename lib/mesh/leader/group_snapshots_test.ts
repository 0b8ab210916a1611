import assert from "node:assert/strict";
import {
  GroupSnapshots,
  SNAPSHOT_IDLE_MS,
  SNAPSHOT_KEEP,
  SNAPSHOT_REUSE_MS,
} from "./group_snapshots.ts";
import { type ControlMessage, encodeMessage, parseMessage } from "../sync/protocol.ts";
import type { MembershipView } from "../../members/member.ts";
import { member } from "../../../tests/fixtures/members.ts";

/** Snapshots on a clock of the test's, a window of `window` parts, counting what they encode. */
function snapshots(window = 2) {
  const t = { clock: 0, encoded: 0, views: 0 };
  const snaps = new GroupSnapshots({
    now: () => t.clock,
    window,
    encode: (msg) => (t.encoded++, encodeMessage(msg)),
    encoded: (n) => t.encoded += n,
  });
  /** A view of `n` members at `version` (counted: made only for a new snapshot). */
  const view = (version: number, n = 3) => (): MembershipView => {
    t.views++;
    const members = Array.from(
      { length: n },
      (_, i) =>
        member(`n${i}`, `10.6.${i >> 8}.${i & 255}`, {
          publicKey: `key-${i}`.padEnd(44, "="),
          endpoints: ["192.0.2.1:51820", "198.51.100.7:51820"],
        }),
    );
    return { network: "10.6.0.0/16", version, members };
  };
  return { t, snaps, view };
}

Deno.test("group snapshots: a recent one is shared by later versions; past the reuse time, or past the log, a new one", () => {
  const { t, snaps, view } = snapshots();
  const first = snaps.current(1, 5, 0, view(5));
  t.clock += SNAPSHOT_REUSE_MS - 1;
  assert.equal(snaps.current(1, 6, 0, view(6)), first, "a burst of joins shares it");
  assert.equal(t.views, 1, "no view made for the one shared");
  assert.equal(snaps.current(1, 6, 6, view(6)).version, 6, "no delta from it: a new one");
  t.clock += SNAPSHOT_REUSE_MS;
  assert.equal(snaps.current(1, 7, 0, view(7)).version, 7);
  assert.equal(snaps.newest(1), 7);
  assert.equal(snaps.newest(2), null, "each group its own");
  assert.equal(
    snaps.current(1, 7, 0, view(7)).version,
    7,
    "the current version's is taken as it is",
  );
  assert.equal(snaps.count, 3);
});

Deno.test("group snapshots: as many kept as are fetched, then the newest shared; one idle goes", () => {
  const { t, snaps, view } = snapshots();
  for (let v = 1; v <= SNAPSHOT_KEEP; v++) {
    t.clock += SNAPSHOT_REUSE_MS;
    snaps.current(1, v, 0, view(v));
  }
  assert.equal(snaps.count, SNAPSHOT_KEEP);
  // Every one kept is in use: a member starting its view shares the newest.
  t.clock += SNAPSHOT_REUSE_MS;
  assert.equal(
    snaps.current(1, SNAPSHOT_KEEP + 1, 0, view(SNAPSHOT_KEEP + 1)).version,
    SNAPSHOT_KEEP,
  );
  // The oldest goes idle while the others are fetched: the next one made takes its place.
  t.clock = SNAPSHOT_IDLE_MS + SNAPSHOT_REUSE_MS + 1;
  for (let v = 2; v <= SNAPSHOT_KEEP; v++) snaps.find(1, v)!.used = t.clock;
  assert.equal(snaps.current(1, 20, 0, view(20)).version, 20);
  assert.equal(snaps.find(1, 1), undefined);
  assert.equal(snaps.count, SNAPSHOT_KEEP);
  snaps.drop(1);
  assert.equal(snaps.count, 0);
});

Deno.test("group snapshots: windows from the part asked for, the member's own part last, each encoding made once", () => {
  const { t, snaps, view } = snapshots(2);
  const s = snaps.current(1, 3, 0, view(3, 40));
  const own = member("me", "10.6.9.9", { publicKey: "me".padEnd(44, "=") });
  const read = (parts: Uint8Array[]) =>
    parts.map((b) => parseMessage(b) as Extract<ControlMessage, { t: "view" }>);
  const first = snaps.window(s, 0, false, own);
  const encoded = t.encoded;
  const n = read(first.parts)[0].parts;
  assert.ok(n > 3, `${n} parts`);
  assert.deepEqual(read(first.parts).map((m) => m.part), [0, 1]);
  assert.equal(first.last, false);
  assert.equal(snaps.lastWindow(s, 0, false), false);
  // The last window: the shared parts left, then the member's own (one encoding, its own).
  const last = snaps.window(s, n - 1, false, own);
  assert.equal(last.last, true);
  assert.equal(snaps.lastWindow(s, n - 1, false), true);
  const msgs = read(last.parts);
  assert.equal(msgs.at(-1)!.part, n - 1);
  assert.deepEqual(msgs.at(-1)!.members.map((m) => m.name), ["me"]);
  assert.equal(t.encoded, encoded + 1, "the shared parts were encoded once");
  // Packed: encoded at its first ask, in fewer parts.
  const packed = snaps.window(s, 0, true, own);
  assert.ok(t.encoded > encoded + 1);
  const after = t.encoded;
  assert.equal(packed.last, true, "the whole view in one window");
  snaps.window(s, 0, true, own);
  assert.equal(t.encoded, after + 1, "only the member's own part again");
  assert.ok(packed.parts.length < n);
});
