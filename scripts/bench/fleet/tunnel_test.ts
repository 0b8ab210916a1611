import assert from "node:assert/strict";
import { selectSuite } from "../../../lib/crypto/select.ts";
import { Tunnel } from "./tunnel.ts";

Deno.test("fleet tunnel: a handshake to a socket's members is told to be for one by its MAC1, no DH", () => {
  const { dh, aead } = selectSuite();
  const pair = () => {
    const priv = dh.generatePrivate();
    return { priv, pub: dh.publicKey(priv) };
  };
  const leader = pair();
  const a = pair();
  const b = pair();
  // The leader's initiation to member a, as its rekey would come (a tunnel whose peer is a).
  const from = new Tunnel(leader.priv, leader.pub, a.pub, dh, aead);
  const msg = from.initiation(1);
  const ta = new Tunnel(a.priv, a.pub, leader.pub, dh, aead);
  const tb = new Tunnel(b.priv, b.pub, leader.pub, dh, aead);
  assert.equal(ta.isFor(msg), true);
  assert.equal(tb.isFor(msg), false);
  // What the MAC1 says agrees with the DH: a answers it, b cannot.
  assert.notEqual(ta.answer(msg, 2), null);
  assert.equal(tb.answer(msg, 3), null);
});
