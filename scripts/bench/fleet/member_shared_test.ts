import assert from "node:assert/strict";
import { selectSuite } from "../../../lib/crypto/select.ts";
import { fleetMember } from "../../../lib/mesh/sync/testing/members.ts";
import { packSegment } from "../../../lib/mesh/sync/packed.ts";
import {
  digestText,
  type Manifest,
  manifestDatagrams,
  parseManifestDatagram,
  PIECE,
  pieceDigest,
} from "../../../lib/mesh/sync/manifest.ts";
import type { Member as MemberRecord } from "../../../lib/members/member.ts";
import { Member, type Sock } from "./member.ts";
import type { Tunnel } from "./tunnel.ts";
import {
  helloFields,
  onAsk,
  onHolders,
  onLack,
  onManifest,
  onPiece,
  peerBytes,
  type PeerMessage,
  type SharedLink,
  sharedTotals,
} from "./member_shared.ts";

const LEADER = "10.6.255.1";

/** A view of `n` records in segments of 16 (one with `own`'s key), as the leader lays it out. */
function view(n: number, own: string) {
  const records = Array.from({ length: n }, (_, i) => fleetMember(i + 1));
  records[5].publicKey = own;
  const pieces: Uint8Array[] = [];
  const entries: Manifest["entries"] = [];
  for (let s = 0; s < n; s += 16) {
    const segment = packSegment(records.slice(s, s + 16));
    segment.forEach((p, k) => {
      pieces.push(p);
      entries.push({ digest: pieceDigest(p), ends: k === segment.length - 1, fromLeader: false });
    });
  }
  const manifest: Manifest = { v: 9, network: "10.6.0.0/16", entries };
  return { records, pieces, manifest };
}

Deno.test("fleet member: a shared view fetched from the holders named, checked, held and served as a node does", () => {
  const { dh } = selectSuite();
  const pub = dh.publicKey(dh.generatePrivate());
  const m = new Member(0, new Uint8Array(32), pub, {} as Tunnel, {} as Sock);
  m.state = "up";
  m.leaderAddress = LEADER;
  const { records, pieces, manifest } = view(100, m.key);
  const byDigest = new Map(pieces.map((p) => [digestText(pieceDigest(p)), p]));
  const sent: { to: string; msg: PeerMessage; peer?: MemberRecord }[] = [];
  const asked: number[] = [];
  const link: SharedLink = {
    send: () => assert.fail("nothing is asked of the leader: the holders gave every piece"),
    sendTo: (_m, to, msg, peer) => sent.push({ to, msg, ...(peer ? { peer } : {}) }),
    isMember: (_m, address) => records.some((r) => r.address === address),
    ask: (_m, v) => asked.push(v),
    timer: () => () => {},
    applied: () => {},
    totals: sharedTotals(),
  };
  assert.deepEqual(helloFields(m), { fs: true });

  // The leader names two holders, then sends its manifest: the asks go to them.
  const [a, b] = [records[1], records[2]];
  onHolders(m, { t: "holders", v: 9, members: [a, b] });
  for (const d of manifestDatagrams(manifest)) onManifest(link, m, parseManifestDatagram(d)!);
  assert.deepEqual(helloFields(m), { fs: true, sv: 9, sp: 0 });
  assert.ok(sent.length > 0);
  // a answers its asks with the pieces; b lacks what it was asked: its pieces go to a.
  while (sent.length > 0) {
    const { to, msg, peer } = sent.shift()!;
    assert.ok(to === a.address || to === b.address, to);
    assert.equal(peer?.publicKey, to === a.address ? a.publicKey : b.publicKey);
    assert.equal(msg.t, "pget");
    // As it would go over a session: the same fields.
    const ask = JSON.parse(new TextDecoder().decode(peerBytes(msg)));
    assert.deepEqual(ask, msg);
    if (to === b.address) onLack(link, m, to, { t: "plack", v: 9, d: ask.d });
    else for (const d of ask.d) onPiece(link, m, byDigest.get(d)!, to);
  }
  // Whole: the version held, the pieces taken from holders, none from the leader, and a hello
  // (which says hz: it holds them now).
  assert.equal(m.version, 9);
  assert.ok(m.viewAt > 0);
  assert.equal(link.totals.whole, 1);
  assert.equal(link.totals.fromHolders, pieces.length);
  assert.equal(link.totals.fromLeader, 0);
  assert.equal(link.totals.mismatches, 0);
  assert.deepEqual(asked, [0]);
  assert.deepEqual(helloFields(m), { fs: true, hz: 9 });

  // It serves a member in its view what it holds (the piece's datagram), not a stranger.
  const d0 = digestText(pieceDigest(pieces[0]));
  onAsk(link, m, records[7].address, { t: "pget", v: 9, d: [d0] });
  assert.equal(sent.length, 1);
  assert.equal(sent[0].to, records[7].address);
  const served = sent[0].msg;
  assert.ok(served.t === "piece");
  // The piece held, by reference (handed over in the simulator's process), or its datagram.
  assert.equal(served.piece, pieces[0]);
  const bytes = peerBytes(served);
  assert.equal(bytes[0], PIECE);
  assert.deepEqual([...bytes.subarray(1)], [...pieces[0]]);
  assert.equal(peerBytes(served), bytes);
  assert.equal(link.totals.served, 1);
  onAsk(link, m, "10.99.0.1", { t: "pget", v: 9, d: [d0] });
  assert.equal(link.totals.drops["not-member"], 1);
  assert.equal(sent.length, 1);
});

Deno.test("fleet member: a piece handed over whose bytes the manifest does not list is refused, its holder dropped, the view taken from the leader", () => {
  const { dh } = selectSuite();
  const pub = dh.publicKey(dh.generatePrivate());
  const m = new Member(0, new Uint8Array(32), pub, {} as Tunnel, {} as Sock);
  m.state = "up";
  m.leaderAddress = LEADER;
  const { records, pieces, manifest } = view(40, m.key);
  const byDigest = new Map(pieces.map((p) => [digestText(pieceDigest(p)), p]));
  const sent: { to: string; msg: PeerMessage }[] = [];
  const toLeader: string[] = [];
  const timers: (() => void)[] = [];
  const link: SharedLink = {
    send: (_m, msg) => {
      assert.equal(msg.t, "pget");
      if (msg.t === "pget") toLeader.push(...(msg.d as string[]));
    },
    sendTo: (_m, to, msg) => sent.push({ to, msg }),
    isMember: () => true,
    ask: () => {},
    timer: (fn) => (timers.push(fn), () => {}),
    applied: () => {},
    totals: sharedTotals(),
  };
  const liar = records[1];
  onHolders(m, { t: "holders", v: 9, members: [liar] });
  for (const d of manifestDatagrams(manifest)) onManifest(link, m, parseManifestDatagram(d)!);
  // The liar answers its first ask with a piece changed by one bit (a copy: the good piece's
  // digest, had once for its object, is not the changed one's).
  const first = sent.shift()!;
  assert.ok(first.msg.t === "pget");
  // (A copy: the pieces are Buffers, whose slice() is a view.)
  const bad = new Uint8Array(byDigest.get(first.msg.d[0])!);
  bad[bad.length - 1] ^= 1;
  onPiece(link, m, bad, liar.address);
  assert.equal(link.totals.mismatches, 1);
  assert.equal(link.totals.fromHolders, 0);
  // Dropped: every piece goes to the leader now, and the view is whole from its pieces (copies:
  // other objects of the same bytes are taken).
  assert.equal(new Set(toLeader).size, pieces.length);
  for (const d of new Set(toLeader)) onPiece(link, m, new Uint8Array(byDigest.get(d)!), LEADER);
  assert.equal(m.version, 9);
  assert.equal(link.totals.whole, 1);
  assert.equal(link.totals.liars, 1);
  assert.equal(link.totals.fromLeader, pieces.length);
  assert.equal(link.totals.mismatches, 1);
});
