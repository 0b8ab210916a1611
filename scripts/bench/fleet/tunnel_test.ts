import assert from "node:assert/strict";
import { selectSuite } from "../../../lib/crypto/select.ts";
import { Tunnel } from "./tunnel.ts";
import {
  digestText,
  PieceChecker,
  pieceDatagram,
  pieceDigest,
} from "../../../lib/mesh/sync/manifest.ts";
import { type HolderAnswer, PieceHolder } from "../../../lib/mesh/sync/piece_holder.ts";
import { parseMessage } from "../../../lib/mesh/sync/protocol.ts";
import { parseKey } from "../../../lib/crypto/keys.ts";
import { makeMesh, texts } from "../../../tests/fixtures/mesh.ts";
import { PQ_PORT } from "../../../lib/members/ports.ts";

const { dh, aead } = selectSuite();
/** A key pair of the suite the tunnels use. */
const pair = () => {
  const priv = dh.generatePrivate();
  return { priv, pub: dh.publicKey(priv) };
};

Deno.test("fleet tunnel: a handshake to a socket's members is told to be for one by its MAC1, no DH", () => {
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

Deno.test("fleet tunnel: two members make a session and one serves a piece the other checks against its manifest", () => {
  const leader = pair();
  const a = pair();
  const b = pair();
  const [addrA, addrB] = ["10.96.0.2", "10.96.0.3"];
  // a (the joiner) starts a session with b (a holder the leader named): the holder's key in the
  // leader's place.
  const aToB = new Tunnel(a.priv, a.pub, b.pub, dh, aead);
  aToB.address(addrA, addrB);
  const bLeader = new Tunnel(b.priv, b.pub, leader.pub, dh, aead);
  const bToA = new Tunnel(b.priv, b.pub, a.pub, dh, aead);
  bToA.address(addrB, addrA);
  const init = aToB.initiation(11);
  assert.equal(bLeader.isFor(init), true);
  // b answers only a member it holds (as WireGuard answers only its peers).
  assert.equal(bLeader.answerAny(init, 12), null);
  const res = bLeader.answerAny(init, 12, (k) => equal(k, a.pub) ? bToA : undefined);
  assert.ok(res);
  assert.equal(res.tunnel, bToA);
  assert.equal(aToB.response(res.response), true);

  // b holds the pieces of the view it assembled; a asks for one by digest.
  const piece = crypto.getRandomValues(new Uint8Array(900));
  const digest = pieceDigest(piece);
  const answers: HolderAnswer[] = [];
  const holder = new PieceHolder({
    send: (to, answer) => (assert.equal(to, addrA), answers.push(answer)),
    isMember: (address) => address === addrA,
  });
  holder.hold(7, [piece]);
  const ask = { t: "pget", v: 7, d: [digestText(digest)] };
  const askSealed = aToB.seal(new TextEncoder().encode(JSON.stringify(ask))).slice();
  // The answered session is b's once a's first data came on it.
  const askPlain = bToA.open(askSealed);
  assert.ok(askPlain && askPlain.length > 0);
  holder.ask(addrA, JSON.parse(new TextDecoder().decode(askPlain)));
  assert.equal(holder.served, 1);
  assert.equal(answers.length, 1);
  const answer = answers[0];
  assert.equal(answer.t, "piece");
  if (answer.t !== "piece") return;
  const sealedPiece = bToA.seal(pieceDatagram(answer.piece)).slice();
  const msg = parseMessage(aToB.open(sealedPiece)!.slice());
  assert.ok(msg && msg.t === "piece");
  // Data for a port the simulated members do not serve (a post-quantum offer) is told apart
  // from data that does not open.
  assert.equal(aToB.open(bToA.seal(Uint8Array.of(1, 2, 3), PQ_PORT).slice()), null);
  assert.equal(aToB.refused, "other-port");
  const forged = bToA.seal(Uint8Array.of(1, 2, 3)).slice();
  forged[forged.length - 1] ^= 1;
  assert.equal(aToB.open(forged), null);
  assert.equal(aToB.refused, "unopened");

  // a checks it against the leader's manifest: taken; a tampered copy is a mismatch.
  const checker = new PieceChecker({
    v: 7,
    network: "10.96.0.0/16",
    entries: [{ digest, ends: true, fromLeader: false }],
  });
  const bad = msg.piece.slice();
  bad[0] ^= 1;
  assert.equal(checker.offer(bad, addrB), "mismatch");
  assert.equal(checker.offer(msg.piece, addrB), "taken");
  assert.equal(checker.complete, true);
  assert.deepEqual(checker.segments(), [piece]);
});

Deno.test("fleet tunnel: a member whose resent initiation the leader answered too ends on the session of the last answer, the one the leader kept, and the leader hears it", async () => {
  // A real device as the leader (b); the member is a tunnel with a's key, on a socket of its own.
  const { nodes: [a, b], net, clock } = makeMesh(2);
  const member = new Tunnel(
    parseKey(a.privateKey, "a"),
    parseKey(a.publicKey, "a"),
    parseKey(b.publicKey, "b"),
    dh,
    aead,
  );
  member.address(a.ip, b.ip);
  const sock = net.bind("192.0.2.50", 1000);
  const got: Uint8Array[] = [];
  sock.start({ datagram: (d) => got.push(d.slice()), flush: () => {} });
  const leader = sock.endpoint("192.0.2.2:51820");
  // The first initiation, and its resend 5 s later (the answer was not read yet: a simulator
  // behind its sockets). Its timestamp must be later than the first's, and they are whitened to
  // 16.8 ms: the resend waits for the wall clock to pass that.
  const sentAt = Date.now();
  sock.send(member.initiation(1), leader);
  net.deliver();
  clock.advance(b.device.timers.rekeyTimeout);
  while (Date.now() - sentAt < 20) await new Promise((r) => setTimeout(r, 5));
  sock.send(member.initiation(2, true), leader);
  net.deliver();
  assert.equal(b.device.stats.handshakesReceived, 2, "the leader answered both");
  assert.equal(got.length, 2);
  // Both answers are taken, in the order they came: the member ends on the newer one's.
  assert.equal(member.response(got[0]), true);
  assert.equal(member.response(got[1]), true);
  assert.equal(member.response(got[0]), false, "an answer older than the session in use");
  // The member's hello goes on the session of the last answer: the one the leader kept.
  sock.send(member.seal(new TextEncoder().encode("hello")).slice(), leader);
  net.deliver();
  assert.deepEqual(texts(b), ["hello"]);
  assert.equal(b.device.drops.get("unknown-index"), 0);
  member.close();
  await sock.close();
});

function equal(x: Uint8Array, y: Uint8Array): boolean {
  return x.length === y.length && x.every((v, i) => v === y[i]);
}
