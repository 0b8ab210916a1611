import assert from "node:assert/strict";
import {
  consumeInitiation,
  consumeResponse,
  createInitiation,
  createResponse,
  Handshake,
  type LocalIdentity,
  noPresharedKey,
} from "./noise.ts";
import { nobleAead, nobleDh } from "../crypto/noble.ts";
import { parseKey } from "../crypto/keys.ts";
import { INITIATION_SIZE, RESPONSE_SIZE } from "./constants.ts";
import { tai64n, tai64nAfter } from "./tai64n.ts";

// Fixed keys so the handshake is reproducible apart from the ephemerals.
const PRIV_I = parseKey("WAmgVYXkbT2bCtdcDwolI88/iVi/aV3/PHcUBTQSYmo=", "i");
const PRIV_R = parseKey("YBRXpZGgsMzFvuhDlzXJ5oN3FCOLhpi1dFoJWH3bvmU=", "r");

function identity(priv: Uint8Array): LocalIdentity {
  return { privateKey: priv, publicKey: nobleDh.publicKey(priv), dh: nobleDh, aead: nobleAead };
}

Deno.test("noise: fixed-key handshake derives matching transport keys in both roles", () => {
  for (const psk of [noPresharedKey(), new Uint8Array(32).fill(7)]) {
    const i = identity(PRIV_I);
    const r = identity(PRIV_R);
    const hsI = new Handshake(r.publicKey, psk, i);
    const hsR = new Handshake(i.publicKey, psk, r);
    const init = new Uint8Array(INITIATION_SIZE);
    createInitiation(i, hsI, 0x11223344, 1_700_000_000_000, init);
    const got = consumeInitiation(r, init, () => ({ peer: "I", handshake: hsR }), 1000, 20);
    assert.ok(got);
    assert.equal(got.peer, "I");
    assert.equal(got.remoteIndex, 0x11223344);
    const resp = new Uint8Array(RESPONSE_SIZE);
    const kr = createResponse(r, got, 0x55667788, resp)!;
    const ki = consumeResponse(i, hsI, resp)!;
    assert.ok(kr && ki);
    assert.deepEqual(ki.send, kr.receive);
    assert.deepEqual(ki.receive, kr.send);
    assert.notDeepEqual(ki.send, ki.receive);
    assert.equal(ki.remoteIndex, 0x55667788);
    assert.equal(kr.remoteIndex, 0x11223344);
    assert.ok(ki.isInitiator && !kr.isInitiator);
    assert.equal(hsI.stage, "none");
  }
});

Deno.test("noise: the responder sees the initiator's static key; a wrong responder key fails", () => {
  const i = identity(PRIV_I);
  const r = identity(PRIV_R);
  const other = identity(nobleDh.generatePrivate());
  const hsI = new Handshake(r.publicKey, noPresharedKey(), i);
  const init = new Uint8Array(INITIATION_SIZE);
  createInitiation(i, hsI, 1, Date.now(), init);
  let seen: Uint8Array | null = null;
  const hsR = new Handshake(i.publicKey, noPresharedKey(), r);
  consumeInitiation(
    r,
    init,
    (k) => {
      seen = k.slice();
      return { peer: 1, handshake: hsR };
    },
    0,
    0,
  );
  assert.deepEqual(seen, i.publicKey);
  const hsO = new Handshake(i.publicKey, noPresharedKey(), other);
  assert.equal(consumeInitiation(other, init, () => ({ peer: 1, handshake: hsO }), 0, 0), null);
});

Deno.test("noise: replayed or older timestamps and floods are refused", () => {
  const i = identity(PRIV_I);
  const r = identity(PRIV_R);
  const hsI = new Handshake(r.publicKey, noPresharedKey(), i);
  const hsR = new Handshake(i.publicKey, noPresharedKey(), r);
  const look = () => ({ peer: 0, handshake: hsR });
  const m1 = new Uint8Array(INITIATION_SIZE);
  createInitiation(i, hsI, 1, 2_000_000_000_000, m1);
  assert.ok(consumeInitiation(r, m1.slice(), look, 10_000, 20));
  const why: string[] = [];
  const said = (w: string) => why.push(w);
  assert.equal(consumeInitiation(r, m1.slice(), look, 20_000, 20, said), null, "same timestamp");
  const m0 = new Uint8Array(INITIATION_SIZE);
  createInitiation(i, hsI, 2, 1_999_999_999_000, m0);
  assert.equal(consumeInitiation(r, m0, look, 30_000, 20, said), null, "older timestamp");
  const m2 = new Uint8Array(INITIATION_SIZE);
  createInitiation(i, hsI, 3, 2_000_000_001_000, m2);
  assert.equal(consumeInitiation(r, m2, look, 10_010, 20, said), null, "too soon after the last");
  assert.deepEqual(why, ["replay", "replay", "flood"], "the caller hears why");
  assert.ok(consumeInitiation(r, m2, look, 40_000, 20));
});

Deno.test("noise: every bit flip of an initiation or response is rejected", () => {
  const i = identity(PRIV_I);
  const r = identity(PRIV_R);
  const hsI = new Handshake(r.publicKey, noPresharedKey(), i);
  const init = new Uint8Array(INITIATION_SIZE);
  createInitiation(i, hsI, 9, Date.now(), init);
  // Flip one bit in each byte of the authenticated part (type..timestamp).
  for (let b = 8; b < 116; b++) {
    const m = init.slice();
    m[b] ^= 1 << (b % 8);
    const hsR = new Handshake(i.publicKey, noPresharedKey(), r);
    assert.equal(
      consumeInitiation(r, m, () => ({ peer: 0, handshake: hsR }), 0, 0),
      null,
      `byte ${b}`,
    );
  }
  const hsR = new Handshake(i.publicKey, noPresharedKey(), r);
  const consumed = consumeInitiation(r, init, () => ({ peer: 0, handshake: hsR }), 0, 0);
  assert.ok(consumed);
  const resp = new Uint8Array(RESPONSE_SIZE);
  createResponse(r, consumed, 77, resp);
  // The sender index (bytes 4-7) is covered by MAC1 only, so start at the receiver index.
  for (let b = 8; b < 60; b++) {
    const m = resp.slice();
    m[b] ^= 0x80;
    const copy = new Handshake(r.publicKey, noPresharedKey(), i);
    Object.assign(copy, {
      stage: hsI.stage,
      hash: hsI.hash.slice(),
      chainKey: hsI.chainKey.slice(),
      localEphemeral: hsI.localEphemeral.slice(),
      localIndex: hsI.localIndex,
    });
    assert.equal(consumeResponse(i, copy, m), null, `response byte ${b}`);
  }
  assert.ok(consumeResponse(i, hsI, resp));
});

Deno.test("noise: answering the peer's initiation keeps our own in flight; each is answered once", () => {
  const a = identity(PRIV_I);
  const b = identity(PRIV_R);
  const hsA = new Handshake(b.publicKey, noPresharedKey(), a);
  const hsB = new Handshake(a.publicKey, noPresharedKey(), b);
  const initA = new Uint8Array(INITIATION_SIZE);
  const initB = new Uint8Array(INITIATION_SIZE);
  createInitiation(a, hsA, 1, 1_700_000_000_000, initA);
  createInitiation(b, hsB, 2, 1_700_000_000_000, initB);
  // Both initiations cross: each side answers the other's.
  const atA = consumeInitiation(a, initB, () => ({ peer: "b", handshake: hsA }), 0, 0)!;
  const atB = consumeInitiation(b, initA, () => ({ peer: "a", handshake: hsB }), 0, 0)!;
  const respA = new Uint8Array(RESPONSE_SIZE);
  const respB = new Uint8Array(RESPONSE_SIZE);
  const kA = createResponse(a, atA, 3, respA)!;
  const kB = createResponse(b, atB, 4, respB)!;
  assert.equal(hsA.stage, "initiation-created", "a's own initiation survives");
  assert.equal(createResponse(a, atA, 5, new Uint8Array(RESPONSE_SIZE)), null, "answered once");
  // Each side still completes its own initiation with the other's answer.
  const iA = consumeResponse(a, hsA, respB)!;
  const iB = consumeResponse(b, hsB, respA)!;
  assert.ok(iA && iB);
  assert.deepEqual(iA.send, kB.receive);
  assert.deepEqual(iB.send, kA.receive);
  assert.notDeepEqual(iA.send, iB.receive, "two distinct sessions");
});

Deno.test("tai64n: later times compare later; whitening keeps order at 16 ms steps", () => {
  assert.ok(tai64nAfter(tai64n(1_700_000_001_000), tai64n(1_700_000_000_000)));
  assert.equal(tai64nAfter(tai64n(1_700_000_000_000), tai64n(1_700_000_000_000)), false);
  assert.ok(tai64nAfter(tai64n(1_700_000_000_100), tai64n(1_700_000_000_000)));
  // The Unix epoch is TAI64 label 2^62 + 10 (libtai, the kernel and wireguard-go agree).
  const t = tai64n(0);
  assert.deepEqual([...t.subarray(0, 8)], [0x40, 0, 0, 0, 0, 0, 0, 0x0a]);
});
