/**
 * A simulated member's side of shared views, as a node's sync runs it (lib/mesh/sync/node_sync.ts)
 * and with the same modules: the leader's manifest reassembled (lib/mesh/sync/manifest.ts), the
 * pieces asked of the holders it names and checked (lib/mesh/sync/shared_fetch.ts), the view
 * whole once they all came, then held and served to members that ask (lib/mesh/sync/piece_holder.ts,
 * `hz` in its hellos). What differs is what a simulated member keeps: its version and own record,
 * not the records; a view's records are unpacked once for every member (by its digests).
 * @module
 */

import type { ControlMessage } from "../../../lib/mesh/sync/protocol.ts";
import type { Member as MemberRecord } from "../../../lib/members/member.ts";
import {
  digestText,
  type Manifest,
  MANIFEST_CROSSED_MS,
  ManifestAssembler,
  type ManifestDatagram,
  ManifestIndex,
  PieceChecker,
  pieceDatagram,
  pieceDigestText,
} from "../../../lib/mesh/sync/manifest.ts";
import {
  type HolderAnswer,
  type HolderDrop,
  type PieceAsk,
  PieceHolder,
  type PieceLack,
} from "../../../lib/mesh/sync/piece_holder.ts";
import { SharedFetch } from "../../../lib/mesh/sync/shared_fetch.ts";
import { unpackSegments } from "../../../lib/mesh/sync/packed.ts";
import { type Member, now } from "./member.ts";
import { IndexCache, indexRecords, type ViewIndex } from "./view_records.ts";

/** What the simulated members counted of shared views, all together. */
export interface SharedTotals {
  /** Manifests taken (a fetch started), views made whole from them, fetches that failed. */
  fetches: number;
  whole: number;
  failed: number;
  /** Pieces taken from holders, and from the leader (sent unasked or asked). */
  fromHolders: number;
  fromLeader: number;
  /** Pieces asked of the leader because no holder gave them (the fall-back). */
  fallbacks: number;
  /** Pieces whose digest was not in the manifest; pieces that came again; from anyone else. */
  mismatches: number;
  duplicates: number;
  ignored: number;
  /** Holders dropped by a fetch: a mismatch, or asks left unanswered. */
  liars: number;
  silent: number;
  /** Views whose pieces did not unpack (the leader's digests: its fault or the path's). */
  malformed: number;
  /** Hellos after a failed fetch held until the leader takes them (a second after the manifest). */
  held: number;
  /** Pieces served as holders, and asks dropped by reason. */
  served: number;
  drops: Record<HolderDrop, number>;
}

/** Totals at zero. */
export function sharedTotals(): SharedTotals {
  return {
    fetches: 0,
    whole: 0,
    failed: 0,
    fromHolders: 0,
    fromLeader: 0,
    fallbacks: 0,
    mismatches: 0,
    duplicates: 0,
    ignored: 0,
    liars: 0,
    silent: 0,
    malformed: 0,
    held: 0,
    served: 0,
    drops: { rate: 0, "not-member": 0, malformed: 0, lack: 0 },
  };
}

/** What members send each other of shared views: an ask, a piece (the bytes), a lack. */
export type PeerMessage = PieceAsk | HolderAnswer;

/** How a member's shared-view messages go out, besides those to the leader. */
export interface SharedLink {
  /** Seals `msg` to the leader in `m`'s session. */
  send(m: Member, msg: ControlMessage): void;
  /**
   * Sends `msg` (not changed later) from `m` to the member at overlay `address`: handed over as
   * it is in the simulator's process (./peer_links.ts), or as its bytes ({@link peerBytes}) over
   * their session, started now if none (`peer`: its record, which names its key and endpoint).
   */
  sendTo(m: Member, address: string, msg: PeerMessage, peer?: MemberRecord): void;
  /** Whether `address` is a member's in `m`'s view (a holder serves only those). */
  isMember(m: Member, address: string): boolean;
  /** Says hello for news (member_sync.ts `askFor`), or just hello (`v` 0). */
  ask(m: Member, v: number): void;
  /**
   * Calls `fn` after `ms`; returns what cancels it. With `m`, a wait for an answer to `m`: it
   * ends once `m` heard what came by then (./read_through.ts).
   */
  timer(fn: () => void, ms: number, m?: Member): () => void;
  /** Notes the version whole, as a view applied (history, removals, the watched move). */
  applied(m: Member, v: number, records: ViewRecords): void;
  /** The totals. */
  totals: SharedTotals;
}

/** A member's shared view: the manifest coming, the holders named, the fetch, what it holds. */
export class MemberShared {
  readonly manifests = new ManifestAssembler();
  named: { v: number; members: MemberRecord[] } | null = null;
  holders = new Map<string, MemberRecord>();
  fetch: SharedFetch | null = null;
  last: PieceChecker | null = null;
  holder: PieceHolder | null = null;
  early: Uint8Array[] = [];
  /** The checker the fetch under way took over from (the leader's late pieces of it). */
  replaced: PieceChecker | null = null;
  /** When the last manifest came whole (ms, `now()`), and the hello held after a failed fetch. */
  manifestAt = -Infinity;
  againCancel: (() => void) | null = null;
}

/** A whole view's records, by key: unpacked once for every member (./view_records.ts). */
export type ViewRecords = ViewIndex;

/** Pieces from the leader in use kept while its manifest is not whole yet, at most (as a node). */
const EARLY_PIECES = 64;

/** A hello held past the leader's {@link MANIFEST_CROSSED_MS} goes this much later, ms (as a node). */
const CROSSED_MARGIN_MS = 50;

const enc = new TextEncoder();
// A piece's datagram, made once per piece (pieces are one object for every member: members.ts).
const datagrams = new WeakMap<Uint8Array, Uint8Array>();
// A piece's digest as text, hashed once per piece object: the same object reaches hundreds of
// members (from the leader through the parse cache of members.ts, then from holder to holder by
// reference), and its bytes never change (each is copied out of the datagram it came in). Each
// member still looks the digest up in its own manifest: a piece whose bytes are not what the
// manifest lists is refused, as a node refuses it.
const digests = new WeakMap<Uint8Array, string>();
// A manifest entry's digest as text, by the digest's object (a manifest's datagrams are parsed
// once for every member: members.ts).
const texts = new WeakMap<Uint8Array, string>();
// Manifests' indexes by their digests in order: every member's checker of the same entries
// shares one (made per member, they held a third of the simulator's heap at 3,000 members).
const indexes = new Map<string, ManifestIndex>();
/** Indexes kept (the oldest go first): a fleet's members fetch a few views at a time. */
const INDEXES = 64;
// Views unpacked, by their digests (the same bytes for every member that fetched that view),
// kept indexed up to a bound of records (./view_records.ts).
const views = new IndexCache<string>(100_000);

function stateOf(m: Member): MemberShared {
  return m.shared ??= new MemberShared();
}

/** Whether `m` assembles a whole view now (a snapshot in windows or a shared view). */
export function assembling(m: Member): boolean {
  return m.snapV > 0 || (m.shared?.fetch ?? null) !== null;
}

/** What `m`'s hellos say of shared views: `fs`, `hz`, and the fetch under way. */
export function helloFields(m: Member): { fs?: true; hz?: number; sv?: number; sp?: number } {
  if (!m.fs) return {};
  const hz = m.shared?.holder?.holding ?? null;
  const f = m.shared?.fetch ?? null;
  return {
    fs: true as const,
    ...(hz !== null ? { hz } : {}),
    ...(f && m.snapV === 0 ? { sv: f.version, sp: 0 } : {}),
  };
}

/** The leader names the holders of the shared view at `v`. */
export function onHolders(m: Member, msg: Extract<ControlMessage, { t: "holders" }>): void {
  stateOf(m).named = { v: msg.v, members: msg.members };
}

/**
 * A manifest datagram from the leader: once whole and past the version held, the fetch starts
 * (one under way is replaced, the pieces both share kept), with the holders named for it.
 */
export function onManifest(link: SharedLink, m: Member, dg: ManifestDatagram): void {
  const s = stateOf(m);
  const manifest = s.manifests.addParsed(dg);
  if (!manifest || manifest.v <= m.version || m.state !== "up") return;
  const checker = new PieceChecker(manifest, digestOf, indexOf(manifest));
  const older = s.fetch?.checker ?? s.last;
  if (older) checker.adopt(older);
  s.fetch?.stop();
  s.replaced = older;
  s.againCancel?.();
  s.againCancel = null;
  s.manifestAt = now();
  const named = s.named?.v === manifest.v
    ? s.named.members.filter((h) => h.publicKey !== m.key)
    : [];
  s.named = null;
  s.holders = new Map(named.map((h) => [h.address, h]));
  link.totals.fetches++;
  const fetch: SharedFetch = s.fetch = new SharedFetch({
    checker,
    holders: named.map((h) => h.address),
    leader: m.leaderAddress,
    send: (to, ask) => {
      if (to === m.leaderAddress) {
        link.totals.fallbacks += ask.d.length;
        return link.send(m, ask);
      }
      link.sendTo(m, to, ask, s.holders.get(to));
    },
    timer: (fn, ms) =>
      link.timer(
        () => {
          fn();
          if (s.fetch === fetch) after(link, m, fetch);
        },
        ms,
        m,
      ),
  });
  fetch.start();
  for (const p of s.early.splice(0)) onPiece(link, m, p, m.leaderAddress);
  if (s.fetch === fetch) after(link, m, fetch);
}

/**
 * A piece from `from` (the leader, or another member). As a node
 * (lib/mesh/sync/node_shared_views.ts): the leader's late copies of the view held, or of the
 * manifest the fetch replaced, are duplicates, not kept and not mismatches.
 */
export function onPiece(link: SharedLink, m: Member, piece: Uint8Array, from: string): void {
  const s = stateOf(m);
  const fetch = s.fetch;
  const leader = from === m.leaderAddress;
  if (!fetch) {
    if (leader && s.last?.complete && s.last.lists(piece)) link.totals.duplicates++;
    else if (leader && s.early.length < EARLY_PIECES) s.early.push(piece);
    else link.totals.ignored++;
    return;
  }
  const fate = fetch.piece(from, piece);
  if (fate === "taken") link.totals[from === fetch.leader ? "fromLeader" : "fromHolders"]++;
  else if (fate === "ignored") link.totals.ignored++;
  else if (fate === "mismatch" && leader && s.replaced?.lists(piece)) link.totals.duplicates++;
  else if (fate === "mismatch") link.totals.mismatches++;
  else link.totals.duplicates++;
  after(link, m, fetch);
}

/** `from` lacks the pieces of digests `d`. */
export function onLack(link: SharedLink, m: Member, from: string, msg: PieceLack): void {
  const fetch = m.shared?.fetch;
  if (!fetch) return;
  fetch.lack(from, msg.d);
  after(link, m, fetch);
}

/** Member `from` asks `m` for pieces: served as a holder (dropped, counted, when none held). */
export function onAsk(link: SharedLink, m: Member, from: string, msg: object): void {
  const h = holderOf(link, m);
  const served = h.served;
  const drops = { ...h.drops };
  h.ask(from, msg as Record<string, unknown>);
  link.totals.served += h.served - served;
  for (const k of Object.keys(drops) as HolderDrop[]) link.totals.drops[k] += h.drops[k] - drops[k];
}

/** A view's key: its version and digests (the same view for every member that fetched it). */
function viewKey(c: PieceChecker): string {
  const texts = c.manifest.entries.map((_, i) => c.digestTextAt(i));
  return `${c.manifest.v}|${texts.join("")}`;
}

/** After a step of `fetch`: the view applied once whole; asked again when it failed. */
function after(link: SharedLink, m: Member, fetch: SharedFetch): void {
  if (fetch.state === "fetching") return;
  const s = stateOf(m);
  s.fetch = null;
  s.early = [];
  s.last = fetch.checker;
  link.totals.liars += fetch.liars.size;
  link.totals.silent += fetch.silent.size;
  if (fetch.state === "failed") {
    link.totals.failed++;
    return askAgain(link, m);
  }
  const key = viewKey(fetch.checker);
  let records = views.get(key);
  if (records === undefined) {
    const members = unpackSegments(fetch.checker.segments()!);
    records = members ? indexRecords(members) : null;
    views.set(key, records);
  }
  if (!records || !records.byKey.has(m.key)) {
    link.totals.malformed++;
    s.last = null;
    return askAgain(link, m);
  }
  link.totals.whole++;
  const v = fetch.checker.manifest.v;
  holderOf(link, m).holdChecked(v, fetch.checker);
  if (v <= m.version) return;
  m.version = v;
  if (m.viewAt === 0) m.viewAt = now();
  link.applied(m, v, records);
  // News that came meanwhile, else a hello now: it asks what changed since, and tells the leader
  // this member holds the pieces.
  const news = m.newsDuring;
  m.newsDuring = 0;
  link.ask(m, news > v ? news : 0);
}

/**
 * A hello for a new manifest after a failed fetch, as a node's (lib/mesh/sync/node_shared_views.ts):
 * held until the leader takes it ({@link MANIFEST_CROSSED_MS} after the manifest), one at most.
 */
function askAgain(link: SharedLink, m: Member): void {
  const s = stateOf(m);
  const wait = s.manifestAt + MANIFEST_CROSSED_MS + CROSSED_MARGIN_MS - now();
  if (wait <= 0) return link.ask(m, 0);
  link.totals.held++;
  s.againCancel ??= link.timer(() => {
    s.againCancel = null;
    if (m.state === "up") link.ask(m, 0);
  }, wait);
}

/** `m`'s holder (made at its first use: one that holds nothing answers asks with `plack`). */
function holderOf(link: SharedLink, m: Member): PieceHolder {
  return stateOf(m).holder ??= new PieceHolder({
    send: (to, answer) => link.sendTo(m, to, answer),
    isMember: (address) => link.isMember(m, address),
  });
}

/** A peer message's bytes as they go over a session: a piece's datagram is made once per piece. */
export function peerBytes(msg: PeerMessage): Uint8Array {
  if (msg.t !== "piece") return enc.encode(JSON.stringify(msg));
  let d = datagrams.get(msg.piece);
  if (!d) datagrams.set(msg.piece, d = pieceDatagram(msg.piece));
  return d;
}

/** A piece's digest as text, hashed once per piece object (see `digests`). */
export function digestOf(piece: Uint8Array): string {
  let d = digests.get(piece);
  if (d === undefined) digests.set(piece, d = pieceDigestText(piece));
  return d;
}

/** A manifest entry's digest as text, encoded once per digest object (see `texts`). */
function textOf(digest: Uint8Array): string {
  let t = texts.get(digest);
  if (t === undefined) texts.set(digest, t = digestText(digest));
  return t;
}

/** `manifest`'s index, shared with every manifest of the same digests (see `indexes`). */
export function indexOf(manifest: Manifest): ManifestIndex {
  const key = manifest.entries.map((e) => textOf(e.digest)).join("");
  let index = indexes.get(key);
  if (index === undefined) {
    index = new ManifestIndex(manifest, textOf);
    if (indexes.size >= INDEXES) indexes.delete(indexes.keys().next().value!);
  }
  // The latest used goes last (the oldest go first).
  indexes.delete(key);
  indexes.set(key, index);
  return index;
}
