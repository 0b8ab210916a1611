import assert from "node:assert/strict";
import {
  DIGEST_BYTES,
  ENTRIES_PER_DATAGRAM,
  MANIFEST,
  type Manifest,
  ManifestAssembler,
  manifestDatagrams,
  ManifestIndex,
  MAX_PIECE,
  MAX_PIECES,
  parseManifestDatagram,
  PIECE,
  PieceChecker,
  pieceDatagram,
  pieceDigest,
  pieceDigestText,
  unpackPiece,
} from "./manifest.ts";

const enc = new TextEncoder();

/** Segments of random bytes, each cut into pieces of at most `MAX_PIECE` bytes. */
function segments(sizes: number[], seed = 1): Uint8Array[] {
  let x = seed;
  return sizes.map((n) =>
    Uint8Array.from({ length: n }, () => (x = (x * 1103515245 + 12345) >>> 0) >>> 24)
  );
}

function cut(segs: Uint8Array[]): { pieces: Uint8Array[]; ends: boolean[] } {
  const pieces: Uint8Array[] = [];
  const ends: boolean[] = [];
  for (const s of segs) {
    for (let at = 0; at < s.length; at += MAX_PIECE) {
      pieces.push(s.subarray(at, at + MAX_PIECE));
      ends.push(at + MAX_PIECE >= s.length);
    }
  }
  return { pieces, ends };
}

function manifestOf(segs: Uint8Array[], v = 7, fromLeader = (_i: number) => false): Manifest {
  const { pieces, ends } = cut(segs);
  return {
    v,
    network: "10.6.0.0/16",
    network6: "fd00::/64",
    entries: pieces.map((p, i) => ({
      digest: pieceDigest(p),
      ends: ends[i],
      fromLeader: fromLeader(i),
    })),
  };
}

function header(o: Record<string, unknown>, body: Uint8Array): Uint8Array {
  const h = enc.encode(JSON.stringify(o));
  const d = new Uint8Array(3 + h.length + body.length);
  d[0] = MANIFEST;
  d[1] = h.length >> 8;
  d[2] = h.length & 0xff;
  d.set(h, 3);
  d.set(body, 3 + h.length);
  return d;
}

Deno.test("a manifest's datagrams, in any order, make the manifest again (1, 70, 71, 700 pieces)", () => {
  for (const n of [1, 70, 71, 700]) {
    const segs = segments(Array.from({ length: n }, (_, i) => 100 + (i % 7) * 150), n);
    const m = manifestOf(segs, 40 + n, (i) => i % 5 === 0);
    const ds = manifestDatagrams(m);
    assert.equal(ds.length, Math.ceil(n / ENTRIES_PER_DATAGRAM));
    for (const d of ds) assert.ok(d.length <= MAX_PIECE + 100, `${d.length} bytes`);
    const a = new ManifestAssembler();
    const order = ds.map((_, i) => i).reverse();
    let out: Manifest | null = null;
    for (const [j, i] of order.entries()) {
      out = a.add(ds[i]);
      if (j < order.length - 1) assert.equal(out, null);
    }
    assert.deepEqual(out, m);
    assert.equal(a.malformed, 0);
  }
});

Deno.test("pieces are taken by digest from any sender; a piece not listed is a mismatch counted against its sender", () => {
  const segs = segments([3000, 500, 1200, 2401]);
  const m = manifestOf(segs);
  const { pieces } = cut(segs);
  assert.equal(m.entries.length, 3 + 1 + 1 + 3);
  const c = new PieceChecker(m);
  assert.deepEqual(c.lacking(), [0, 1, 2, 3, 4, 5, 6, 7]);
  // An honest holder, a lying one (a piece of another view, a piece changed by one bit).
  const other = cut(segments([900], 99)).pieces[0];
  const flipped = pieces[2].slice();
  flipped[10] ^= 1;
  assert.equal(c.offer(pieces[0], "honest"), "taken");
  assert.equal(c.offer(other, "liar"), "mismatch");
  assert.equal(c.offer(flipped, "liar"), "mismatch");
  assert.equal(c.offer(pieces[0], "honest"), "duplicate");
  assert.equal(c.mismatches("liar"), 2);
  assert.equal(c.mismatches("honest"), 0);
  assert.equal(c.mismatched, 2);
  assert.equal(c.duplicates, 1);
  assert.equal(c.segments(), null);
  for (const i of [7, 3, 1, 5, 2, 6, 4]) assert.equal(c.offer(pieces[i], "honest"), "taken");
  assert.ok(c.complete);
  assert.deepEqual(c.lacking(), []);
  assert.deepEqual(c.segments(), segs);
});

Deno.test("checkers of the same entries share an index and hold their own pieces; the digest is had as asked", () => {
  const segs = segments([3000, 500]);
  const m = manifestOf(segs);
  const { pieces } = cut(segs);
  const index = new ManifestIndex(m);
  // Another member's manifest of the same entries (another object) serves as well.
  const twin = { ...m, entries: m.entries.map((e) => ({ ...e, digest: e.digest.slice() })) };
  const hashed: Uint8Array[] = [];
  const digestOf = (p: Uint8Array) => (hashed.push(p), pieceDigestText(p));
  const a = new PieceChecker(m, digestOf, index);
  const b = new PieceChecker(twin, digestOf, index);
  assert.equal(a.offer(pieces[1], "h"), "taken");
  assert.deepEqual(a.lacking(), [0, 2, 3]);
  assert.deepEqual(b.lacking(), [0, 1, 2, 3]);
  // The bytes are still what is looked up: one bit changed is a mismatch for either.
  const flipped = pieces[0].slice();
  flipped[3] ^= 1;
  assert.equal(b.offer(flipped, "liar"), "mismatch");
  assert.equal(b.mismatches("liar"), 1);
  assert.deepEqual(hashed, [pieces[1], flipped]);
  for (const p of pieces) b.offer(p, "h");
  assert.deepEqual(b.segments(), segs);
  assert.equal(a.digestTextAt(2), b.digestTextAt(2));
  // An index of other entries is refused, fewer or as many.
  assert.throws(() => new PieceChecker(manifestOf(segments([100])), digestOf, index), RangeError);
  const other = { ...m, entries: m.entries.map((e) => ({ ...e, digest: e.digest.slice() })) };
  other.entries[2].digest[0] ^= 1;
  assert.throws(() => new PieceChecker(other, digestOf, index), RangeError);
});

Deno.test("the pieces the leader sends are told apart from those holders serve", () => {
  const segs = segments([1000, 1000, 1000, 1000]);
  const m = manifestOf(segs, 3, (i) => i >= 2);
  const c = new PieceChecker(m);
  assert.deepEqual(c.lacking(true), [2, 3]);
  assert.deepEqual(c.lacking(false), [0, 1]);
  c.offer(cut(segs).pieces[3], "leader");
  assert.deepEqual(c.lacking(true), [2]);
});

Deno.test("a view asked for again keeps the pieces its new manifest shares", () => {
  const old = segments([1000, 1000, 1000, 1000, 700], 5);
  // At the new version the tail segment grew (a join) and one in the middle changed.
  const now = [old[0], old[1], segments([990], 6)[0], old[3], segments([1400], 7)[0]];
  const a = new PieceChecker(manifestOf(old, 10));
  for (const p of cut(old).pieces) a.offer(p, "h");
  const b = new PieceChecker(manifestOf(now, 11));
  assert.equal(b.adopt(a), 3);
  assert.deepEqual(b.lacking(), [2, 4, 5]);
  for (const i of b.lacking()) b.offer(cut(now).pieces[i], "leader");
  assert.deepEqual(b.segments(), now);
});

Deno.test("a datagram of another manifest starts the assembly over", () => {
  const m1 = manifestOf(segments(Array(100).fill(300), 1), 20);
  const m2 = manifestOf(segments(Array(100).fill(300), 2), 21);
  const d1 = manifestDatagrams(m1);
  const d2 = manifestDatagrams(m2);
  const a = new ManifestAssembler();
  assert.equal(a.add(d1[0]), null);
  assert.equal(a.add(d2[1]), null);
  // m1's second datagram does not finish m1: m2's started over.
  assert.equal(a.add(d1[1]), null);
  assert.deepEqual(a.add(d1[0]), m1);
  assert.equal(a.add(d2[0]), null);
  assert.deepEqual(a.add(d2[1]), m2);
});

Deno.test("malformed manifest datagrams are refused and counted, never thrown", () => {
  const entry = (flags: number) => {
    const e = new Uint8Array(DIGEST_BYTES + 1);
    e[DIGEST_BYTES] = flags;
    return e;
  };
  const ok = { t: "manifest", v: 1, network: "10.6.0.0/16", n: 1, i: 0, k: 1, f: 0 };
  assert.ok(parseManifestDatagram(header(ok, entry(1))));
  const bad: [string, Uint8Array][] = [
    ["empty", new Uint8Array(0)],
    ["another marker", Uint8Array.of(PIECE, 0, 0)],
    ["header past the end", Uint8Array.of(MANIFEST, 0xff, 0xff, 0x7b)],
    ["header not JSON", Uint8Array.of(MANIFEST, 0, 1, 0x7b, ...entry(1))],
    ["header an array", header([] as unknown as Record<string, unknown>, entry(1))],
    ["another t", header({ ...ok, t: "view" }, entry(1))],
    ["a version not a count", header({ ...ok, v: -1 }, entry(1))],
    ["a fraction", header({ ...ok, v: 1.5 }, entry(1))],
    ["no network", header({ ...ok, network: 5 }, entry(1))],
    ["network6 not text", header({ ...ok, network6: [] }, entry(1))],
    ["no pieces", header({ ...ok, n: 0 }, new Uint8Array(0))],
    ["too many pieces", header({ ...ok, n: MAX_PIECES + 1, k: 937 }, entry(1))],
    ["k not for n", header({ ...ok, k: 2 }, entry(1))],
    ["i past k", header({ ...ok, i: 1 }, entry(1))],
    ["f not i's", header({ ...ok, f: 3 }, entry(1))],
    ["an entry short", header(ok, entry(1).subarray(1))],
    ["an entry more", header(ok, Uint8Array.of(...entry(0), ...entry(1)))],
    ["an unknown flag", header(ok, entry(1 | 4))],
    ["the last piece ends no segment", header(ok, entry(0))],
  ];
  const a = new ManifestAssembler();
  for (const [why, d] of bad) {
    assert.equal(parseManifestDatagram(d), null, why);
    assert.equal(a.add(d), null, why);
  }
  assert.equal(a.malformed, bad.length);
  // Random damage to real datagrams: refused, or a datagram whose checks all hold.
  const real = manifestDatagrams(manifestOf(segments(Array(150).fill(200), 3)));
  let x = 7;
  const rnd = () => (x = (x * 1103515245 + 12345) >>> 0) / 2 ** 32;
  for (let t = 0; t < 3000; t++) {
    const d = real[t % real.length].slice(0, 1 + Math.floor(rnd() * real[0].length));
    for (let f = Math.floor(rnd() * 4); f > 0; f--) d[Math.floor(rnd() * d.length)] ^= 1 << (t & 7);
    const p = parseManifestDatagram(d);
    if (p) assert.equal(p.entries.length, Math.min(ENTRIES_PER_DATAGRAM, p.n - p.i * 70));
  }
});

Deno.test("a manifest no receiver would take is not encoded", () => {
  const e = { digest: new Uint8Array(DIGEST_BYTES), ends: true, fromLeader: false };
  const m = (entries: typeof e[]) => ({ v: 1, network: "10.6.0.0/16", entries });
  assert.throws(() => manifestDatagrams(m([])), RangeError);
  assert.throws(() => manifestDatagrams(m([{ ...e, ends: false }])), RangeError);
  assert.throws(() => manifestDatagrams(m([{ ...e, digest: new Uint8Array(8) }])), RangeError);
  assert.throws(() => manifestDatagrams(m(Array(MAX_PIECES + 1).fill(e))), RangeError);
});

Deno.test("a piece's datagram is its marker and the piece; anything else is no piece", () => {
  const p = segments([MAX_PIECE])[0];
  const d = pieceDatagram(p);
  assert.equal(d[0], PIECE);
  assert.deepEqual(unpackPiece(d), p);
  assert.notEqual(unpackPiece(d)!.buffer, d.buffer);
  assert.equal(unpackPiece(Uint8Array.of(PIECE)), null);
  assert.equal(unpackPiece(Uint8Array.of(0x01, 1, 2)), null);
  assert.equal(unpackPiece(new Uint8Array(2 + MAX_PIECE).fill(PIECE)), null);
  assert.throws(() => pieceDatagram(new Uint8Array(0)), RangeError);
  assert.throws(() => pieceDatagram(new Uint8Array(MAX_PIECE + 1)), RangeError);
  // The digest is of the piece alone: the same bytes at any version, 16 bytes.
  assert.deepEqual(pieceDigest(p.slice()), pieceDigest(p));
  assert.equal(pieceDigest(p).length, DIGEST_BYTES);
});
