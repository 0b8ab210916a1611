import assert from "node:assert/strict";
import { Keypair } from "./keypair.ts";
import type { AeadKey } from "../crypto/types.ts";

/** An AeadKey that only records whether it was wiped. */
class SpyKey implements AeadKey {
  destroyed = 0;
  seal(): void {}
  open(): boolean {
    return true;
  }
  destroy(): void {
    this.destroyed++;
  }
}

Deno.test("a new keypair: its fields as given, counters at their start", () => {
  const send = new SpyKey();
  const receive = new SpyKey();
  const peer = { name: "p" };
  const kp = new Keypair(send, receive, 11, 22, true, 5000, peer);
  assert.equal(kp.send, send);
  assert.equal(kp.receive, receive);
  assert.equal(kp.localIndex, 11);
  assert.equal(kp.remoteIndex, 22);
  assert.equal(kp.isInitiator, true);
  assert.equal(kp.created, 5000);
  assert.equal(kp.peer, peer);
  assert.equal(kp.sendCounter, 0);
  assert.equal(kp.lastReceived, 0);
});

Deno.test("each keypair has its own replay window", () => {
  const a = new Keypair(new SpyKey(), new SpyKey(), 1, 2, false, 0, null);
  const b = new Keypair(new SpyKey(), new SpyKey(), 3, 4, false, 0, null);
  assert.notEqual(a.replay, b.replay);
  assert.equal(a.replay.accept(0, 100), true);
  assert.equal(a.replay.accept(0, 100), false); // replayed on a
  assert.equal(b.replay.accept(0, 100), true); // b has not seen it
});

Deno.test("destroy wipes both keys, once each", () => {
  const send = new SpyKey();
  const receive = new SpyKey();
  new Keypair(send, receive, 1, 2, false, 0, null).destroy();
  assert.equal(send.destroyed, 1);
  assert.equal(receive.destroyed, 1);
});
