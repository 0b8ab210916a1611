import assert from "node:assert/strict";
import { joinKeyProof, KEY_PROOF_SIZE, keyProofHolds } from "./key_proof.ts";
import { selectSuite } from "../../crypto/select.ts";

const dh = selectSuite().dh;

function pair() {
  const priv = dh.generatePrivate();
  return { priv, pub: dh.publicKey(priv) };
}

Deno.test("key proof: the joiner's proof holds at the leader for its key, request and time only", () => {
  const leader = pair();
  const joiner = pair();
  const b = {
    leaderKey: leader.pub,
    joinerKey: joiner.pub,
    ephemeral: pair().pub,
    time: 1_700_000_000_000,
  };
  const proof = joinKeyProof(dh, joiner.priv, leader.pub, b)!;
  assert.equal(proof.length, KEY_PROOF_SIZE);
  assert.ok(keyProofHolds(dh, leader.priv, b, proof));
  // Another key's holder (a token holder naming a member's key) cannot make it.
  const other = pair();
  assert.ok(!keyProofHolds(dh, leader.priv, b, joinKeyProof(dh, other.priv, leader.pub, b)!));
  // Bound to the request: another ephemeral key or time, or another joiner key, fails.
  assert.ok(!keyProofHolds(dh, leader.priv, { ...b, ephemeral: pair().pub }, proof));
  assert.ok(!keyProofHolds(dh, leader.priv, { ...b, time: b.time + 1 }, proof));
  assert.ok(!keyProofHolds(dh, leader.priv, { ...b, joinerKey: other.pub }, proof));
  // Made for another leader, it does not hold at this one.
  const elsewhere = pair();
  const forElsewhere = joinKeyProof(dh, joiner.priv, elsewhere.pub, {
    ...b,
    leaderKey: elsewhere.pub,
  })!;
  assert.ok(!keyProofHolds(dh, leader.priv, b, forElsewhere));
  assert.ok(!keyProofHolds(dh, leader.priv, b, proof.subarray(0, 8)), "short");
});

Deno.test("key proof: a low-order joiner key proves nothing", () => {
  const leader = pair();
  // The all-zero point: every DH with it is zero, which anyone could compute.
  const zero = new Uint8Array(32);
  const b = { leaderKey: leader.pub, joinerKey: zero, ephemeral: pair().pub, time: 1 };
  assert.equal(joinKeyProof(dh, leader.priv, zero, b), null);
  assert.ok(!keyProofHolds(dh, leader.priv, b, new Uint8Array(KEY_PROOF_SIZE)));
});
