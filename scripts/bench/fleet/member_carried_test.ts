import assert from "node:assert/strict";
import { selectSuite } from "../../../lib/crypto/select.ts";
import { decodeBase64 } from "../../../lib/crypto/base64.ts";
import { PushSigner, unpackCarried } from "../../../lib/mesh/sync/carried.ts";
import type { ControlMessage } from "../../../lib/mesh/sync/protocol.ts";
import { Member, type Sock } from "./member.ts";
import type { Tunnel } from "./tunnel.ts";
import { type CarriedLink, onCarried } from "./member_carried.ts";
import { onControl, type SyncLink } from "./member_sync.ts";

const LEADER = "10.6.255.1";
const enc = new TextEncoder();

/** A delta from `from` to `v` in one part, as the leader's bytes. */
function delta(from: number, v: number): Uint8Array {
  return enc.encode(JSON.stringify({
    t: "delta",
    from,
    v,
    part: 0,
    parts: 1,
    network: "10.6.0.0/16",
    members: [],
    remove: [],
  }));
}

/** A member up at version 5 under policy 3, at `address`. */
function member(i: number, address: string): Member {
  const { dh } = selectSuite();
  const m = new Member(i, new Uint8Array(32), dh.publicKey(dh.generatePrivate()), {
    up: true,
  } as Tunnel, {} as Sock);
  m.state = "up";
  m.address = address;
  m.leaderAddress = LEADER;
  m.version = 5;
  m.pv = 3;
  return m;
}

/** A sync link whose carried parts are handed to the members of `byAddress` at once. */
function fleet(byAddress: Map<string, Member>) {
  const got: Record<string, number> = {};
  const sent: Record<string, number> = {};
  const toLeader: ControlMessage[] = [];
  const passed: { from: string; to: string; bytes: Uint8Array }[] = [];
  const count = (c: Record<string, number>, kind: string, n = 1) => c[kind] = (c[kind] ?? 0) + n;
  const carried: CarriedLink = {
    got: (kind) => count(got, kind),
    sent: (kind, n) => count(sent, kind, n),
    sendTo: (m, to, bytes) => {
      passed.push({ from: m.address, to, bytes });
      const other = byAddress.get(to);
      if (other) onCarried(carried, other, bytes, m.address);
    },
    apply: (m, msg) => onControl(link, m, msg, null, new Map()),
  };
  const link: SyncLink = {
    send: (_m, msg) => toLeader.push(msg),
    got: (kind) => count(got, kind),
    carried,
  };
  const ck = () => {
    const h = toLeader.findLast((msg) => msg.t === "hello");
    return h?.t === "hello" ? h.ck : undefined;
  };
  return { got, sent, toLeader, passed, link, carried, ck };
}

const pushKey = (s: PushSigner) => ({ t: "pushkey", k: s.publicKey }) as const;

Deno.test("fleet member: a carried delta is taken under the leader's push key once it has it, as a pushed one", () => {
  const signer = new PushSigner();
  const m = member(0, "10.6.0.2");
  const f = fleet(new Map());
  const bytes = signer.seal(delta(5, 6), 3);

  // Hellos say `ck` "" before the key; a part before it is dropped.
  onControl(f.link, m, { t: "changed", v: 6 }, null, new Map());
  assert.equal(f.ck(), "");
  onCarried(f.carried, m, bytes, LEADER);
  assert.equal(f.got["carried-unknown-key"], 1);
  assert.equal(m.version, 5);

  onControl(f.link, m, pushKey(signer), null, new Map());
  m.askAt = 0;
  onControl(f.link, m, { t: "changed", v: 6 }, null, new Map());
  assert.equal(f.ck(), signer.keyId);
  // Through the message parseMessage makes of the datagram, as the leader's own.
  onControl(f.link, m, { t: "carried", c: unpackCarried(bytes)! }, null, new Map());
  assert.equal(f.got["carried"], 1);
  assert.equal(f.got["delta-asked"], 1, "taken as a delta from the leader, asked for");
  assert.equal(m.version, 6);

  // Another member takes the same bytes (checked once for both), then one that is behind asks.
  const n = member(1, "10.6.0.3");
  onControl(f.link, n, pushKey(signer), null, new Map());
  onCarried(f.carried, n, bytes, LEADER);
  assert.equal(n.version, 6);
  const behind = member(2, "10.6.0.4");
  behind.version = 4;
  onControl(f.link, behind, pushKey(signer), null, new Map());
  const hellos = f.toLeader.filter((msg) => msg.t === "hello").length;
  onCarried(f.carried, behind, bytes, LEADER);
  assert.equal(behind.version, 4);
  assert.equal(f.got["delta-dropped-other-version"], 1);
  assert.equal(f.toLeader.filter((msg) => msg.t === "hello").length, hellos + 1, "asks again");
});

Deno.test("fleet member: carried parts of another key, another policy, forged or not a delta are dropped, counted", () => {
  const signer = new PushSigner();
  const other = new PushSigner();
  const m = member(0, "10.6.0.2");
  const f = fleet(new Map());
  onControl(f.link, m, pushKey(signer), null, new Map());

  onCarried(f.carried, m, other.seal(delta(5, 6), 3), LEADER);
  assert.equal(f.got["carried-unknown-key"], 1);
  onCarried(f.carried, m, signer.seal(delta(5, 6), 4), LEADER);
  assert.equal(f.got["carried-other-policy"], 1);
  // Another key's signature under the leader's key id.
  const forged = other.seal(delta(5, 6), 3);
  forged.set(decodeBase64(signer.keyId)!, 1);
  onCarried(f.carried, m, forged, LEADER);
  assert.equal(f.got["carried-forged"], 1);
  // A part verified once, then the same signature over changed bytes: checked, not taken.
  const good = signer.seal(delta(5, 6), 3);
  const n = member(1, "10.6.0.3");
  onControl(f.link, n, pushKey(signer), null, new Map());
  onCarried(f.carried, n, good, LEADER);
  assert.equal(n.version, 6);
  const changed = good.slice();
  changed[changed.length - 3] ^= 1;
  onCarried(f.carried, m, changed, LEADER);
  assert.equal(f.got["carried-forged"], 2);
  const view = enc.encode(JSON.stringify({
    t: "view",
    v: 6,
    part: 0,
    parts: 1,
    network: "10.6.0.0/16",
    members: [],
  }));
  onCarried(f.carried, m, signer.seal(view, 3), LEADER);
  assert.equal(f.got["carried-not-delta"], 1);
  assert.equal(m.version, 5, "nothing taken");
  assert.equal(f.got["carried"], 1, "n's alone");

  // A member that does not take carried pushes says no `ck` and takes no key.
  const old = member(2, "10.6.0.4");
  old.ck = false;
  onControl(f.link, old, pushKey(signer), null, new Map());
  onControl(f.link, old, { t: "changed", v: 6 }, null, new Map());
  assert.equal(f.ck(), undefined);
  onCarried(f.carried, old, good, LEADER);
  assert.equal(f.got["carried-unknown-key"], 2);
});

Deno.test("fleet member: a carrier passes a part from the leader on to the members its carry names, not one from a member", () => {
  const signer = new PushSigner();
  const byAddress = new Map<string, Member>();
  const [c, a, b, x] = ["10.6.0.2", "10.6.0.3", "10.6.0.4", "10.6.0.5"].map((address, i) => {
    const m = member(i, address);
    byAddress.set(address, m);
    return m;
  });
  const f = fleet(byAddress);
  for (const m of [c, a, b, x]) onControl(f.link, m, pushKey(signer), null, new Map());
  const carry: ControlMessage = { t: "carry", f: 5, v: 6, n: 1, to: [a.address, b.address] };
  onControl(f.link, c, carry, null, new Map());
  // The members it names carry on too: the part comes to them from c, not the leader.
  onControl(f.link, a, { t: "carry", f: 5, v: 6, n: 1, to: [x.address] }, null, new Map());

  const bytes = signer.seal(delta(5, 6), 3);
  onCarried(f.carried, c, bytes, LEADER);
  assert.deepEqual(f.passed.map((p) => [p.from, p.to]), [[c.address, a.address], [
    c.address,
    b.address,
  ]]);
  assert.deepEqual(f.passed[0].bytes, bytes);
  assert.equal(f.sent["carried-sent"], 2);
  assert.equal(f.got["carried"], 1);
  assert.equal(f.got["carried-passed"], 2, "taken from c");
  for (const m of [c, a, b]) assert.equal(m.version, 6, m.name);
  assert.equal(x.version, 5, "a got it from a member: not passed on");

  // The carry was for one part: the same part again (the leader's resend) is not passed on, nor
  // the next push's parts.
  onCarried(f.carried, c, bytes, LEADER);
  onCarried(f.carried, c, signer.seal(delta(6, 7), 3), LEADER);
  assert.equal(f.passed.length, 2);
  assert.equal(c.version, 7);
  // A carry from a leader whose key is not held is not kept.
  const y = member(9, "10.6.0.9");
  onControl(f.link, y, carry, null, new Map());
  assert.equal(y.carries, null);
});

Deno.test("fleet member: a carrier that holds another policy passes the part on and does not take it", () => {
  const signer = new PushSigner();
  const byAddress = new Map<string, Member>();
  const [c, a] = ["10.6.0.2", "10.6.0.3"].map((address, i) => {
    const m = member(i, address);
    byAddress.set(address, m);
    return m;
  });
  // c has not taken policy 3 yet (its parts still coming); a has.
  c.pv = 2;
  const f = fleet(byAddress);
  for (const m of [c, a]) onControl(f.link, m, pushKey(signer), null, new Map());
  onControl(f.link, c, { t: "carry", f: 5, v: 6, n: 1, to: [a.address] }, null, new Map());
  onCarried(f.carried, c, signer.seal(delta(5, 6), 3), LEADER);
  assert.equal(f.passed.length, 1, "passed on");
  assert.equal(f.got["carried-other-policy"], 1, "c's own");
  assert.equal(c.version, 5);
  assert.equal(a.version, 6, "a holds policy 3: taken");
});
