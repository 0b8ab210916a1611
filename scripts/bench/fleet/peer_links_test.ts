import assert from "node:assert/strict";
import { Member, type Sock } from "./member.ts";
import { PeerLinks } from "./peer_links.ts";
import type { Tunnel } from "./tunnel.ts";

const enc = new TextEncoder();
const dec = new TextDecoder();

/** Members up (no keys: links need none), links between them, turns run by hand. */
function fleet(n: number) {
  const members = Array.from({ length: n }, (_, i) => {
    const m = new Member(i, new Uint8Array(32), new Uint8Array(32), {} as Tunnel, {} as Sock);
    m.state = "up";
    m.address = `10.6.0.${i + 2}`;
    return m;
  });
  const byAddress = new Map(members.map((m) => [m.address, m]));
  const got: { to: number; from: string; text: string }[] = [];
  const drops: string[] = [];
  const turns: (() => void)[] = [];
  const links: PeerLinks<Uint8Array> = new PeerLinks<Uint8Array>({
    byAddress: (address) => byAddress.get(address),
    receive: (m, from, payload) => {
      const text = dec.decode(payload);
      got.push({ to: m.i, from, text });
      // An ask is answered from inside the delivery, as a holder does.
      if (text === "ask") links.send(m, from, enc.encode("piece"));
    },
    count: (kind) => drops.push(kind),
    later: (fn) => turns.push(fn),
  });
  const turn = () => turns.shift()?.();
  return { members, byAddress, links, got, drops, turns, turn };
}

Deno.test("peer links: a payload comes on a later turn, never inside its send; its answer on the next", () => {
  const { members: [a, b], links, got, turns, turn } = fleet(2);
  links.send(a, b.address, enc.encode("ask"));
  links.send(a, b.address, enc.encode("ask"));
  assert.deepEqual(got, []);
  // One turn for both.
  assert.equal(turns.length, 1);
  turn();
  assert.deepEqual(got, [
    { to: 1, from: a.address, text: "ask" },
    { to: 1, from: a.address, text: "ask" },
  ]);
  // The answers, sent while delivering, wait for a turn of their own.
  assert.equal(turns.length, 1);
  turn();
  assert.deepEqual(got.slice(2), [
    { to: 0, from: b.address, text: "piece" },
    { to: 0, from: b.address, text: "piece" },
  ]);
  assert.deepEqual(links.counts, { delivered: 4, dropped: 0 });
});

Deno.test("peer links: nothing from a member down, nothing to one unknown, gone meanwhile or replaced", () => {
  const { members: [a, b, c], byAddress, links, got, drops, turn } = fleet(3);
  a.state = "leaving";
  links.send(a, b.address, enc.encode("x"));
  a.state = "up";
  links.send(a, "10.6.9.9", enc.encode("x"));
  links.send(a, a.address, enc.encode("x"));
  assert.deepEqual(drops, ["peer-sender-down", "peer-unknown", "peer-unknown"]);
  // Gone before its turn: dropped then.
  links.send(a, b.address, enc.encode("x"));
  b.state = "left";
  // Its address taken by a newer member before the turn: not for the old one.
  links.send(a, c.address, enc.encode("x"));
  const newer = new Member(9, new Uint8Array(32), new Uint8Array(32), {} as Tunnel, {} as Sock);
  newer.state = "up";
  newer.address = c.address;
  byAddress.set(c.address, newer);
  turn();
  assert.deepEqual(got, []);
  assert.deepEqual(drops.slice(3), ["peer-down", "peer-down"]);
  assert.deepEqual(links.counts, { delivered: 0, dropped: 5 });
});
