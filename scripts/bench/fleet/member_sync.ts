/** A simulated member's membership sync: hellos, asking again for news, views and policies in parts, snapshot windows. */

import {
  appliesTo,
  type ControlMessage,
  DEFAULT_HELLO_MS,
  SNAPSHOT_WINDOW,
} from "../../../lib/mesh/sync/protocol.ts";
import { decodeLanKey, lanKeyId } from "../../../lib/mesh/state/lan_key.ts";
import { ASK_AGAIN_MS, ASK_TRIES } from "../../../lib/mesh/sync/ask_again.ts";
import { TELL_AGAIN_MS, TELL_TRIES } from "../../../lib/mesh/sync/tell_again.ts";
import { unpackBody } from "../../../lib/mesh/sync/packed.ts";
import { type Assembly, assembly, type Member, now } from "./member.ts";
import { IndexCache, indexRecords, type ViewIndex } from "./view_records.ts";
import {
  assembling,
  helloFields,
  onHolders,
  onLack,
  onManifest,
  onPiece,
  type SharedLink,
} from "./member_shared.ts";
import {
  carriedFields,
  type CarriedLink,
  onCarried,
  onCarry,
  onPushKey,
} from "./member_carried.ts";

type View = Extract<ControlMessage, { t: "view" | "delta" }>;
type Policy = Extract<ControlMessage, { t: "policy" }>;

/** How a member's sync messages reach the leader. */
export interface SyncLink {
  /** Seals `msg` in `m`'s session and sends it (nothing without a session). */
  send(m: Member, msg: ControlMessage): void;
  /** Shared views (absent: manifests, holders and pieces are dropped). */
  shared?: SharedLink;
  /** Counts a datagram received by a kind of its own (what `received` reports). */
  got?(kind: string): void;
  /** Carried pushes (absent: `pushkey`, `carry` and carried parts are dropped). */
  carried?: CarriedLink;
}

/** A watched endpoint move: the member, its new address, and the version that carried it. */
export interface WatchedMove {
  /** The moved member's key. */
  key: string;
  /** Its new address. */
  address: string;
  /** The first version naming it there (0: not seen yet). */
  version: number;
}

/** Says hello (with a probe of the leader, as a node does). */
export function hello(link: SyncLink, m: Member): void {
  link.send(m, {
    t: "hello",
    v: m.version,
    pv: m.pv,
    hi: m.helloEvery,
    endpoints: [],
    services: [],
    labels: {},
    ...(m.lan ? { lan: m.lan } : {}),
    ...(m.lk ? { lk: m.lk } : {}),
    // As a node does: whole views in windows, packed, and where its snapshot stands.
    fw: true,
    fz: true,
    ...(m.snapV > 0 && m.view ? { sv: m.snapV, sp: m.view.low } : {}),
    // As a node: shared views taken and held, and a shared view under way.
    ...helloFields(m),
    // As a node: carried pushes taken and carried, and the push key held.
    ...carriedFields(m),
  });
  // As a node does: every hello goes with a probe of the leader.
  link.send(m, { t: "probe", id: m.probeId++ });
}

/**
 * Tells the leader its LAN candidates moved to `lan`, as a node whose interfaces changed does:
 * a hello now, and again (lib/mesh/sync/tell_again.ts) until its own record shows them.
 */
export function moveLan(link: SyncLink, m: Member, lan: string[], t: number): void {
  m.lan = lan;
  hello(link, m);
  m.tellTries = 0;
  m.tellAt = t + TELL_AGAIN_MS * (0.75 + Math.random() / 2);
}

/** Tells a change again, at time `t` (monotonic ms), while `m`'s own record does not show it. */
export function tellAgain(link: SyncLink, m: Member, t: number): void {
  if (m.tellAt === 0 || t < m.tellAt) return;
  // As tell_again.ts compares a record's LAN candidates with those told.
  const shown = JSON.stringify(m.own?.lan ?? []) === JSON.stringify(m.lan ?? []);
  if (shown || ++m.tellTries > TELL_TRIES) {
    m.tellAt = 0;
    return;
  }
  hello(link, m);
  m.tellAt = t + TELL_AGAIN_MS * 2 ** m.tellTries * (0.75 + Math.random() / 2);
}

/**
 * A link report, as a node sends one every 5 s: its link to the leader (`leaderKey`, base64),
 * up, direct.
 */
export function report(link: SyncLink, m: Member, leaderKey: string): void {
  link.send(m, {
    t: "links",
    n: ++m.reports,
    part: 0,
    parts: 1,
    l: [{ k: leaderKey, s: "up", r: 0.2, p: "direct", i: 40, o: 40 }],
  });
}

/** Asks for the parts of the snapshot being assembled from `part` on. */
export function fetchWindow(link: SyncLink, m: Member, part: number): void {
  link.send(m, { t: "fetch", h: m.version, v: m.snapV, part });
}

/** Says hello for news, and again while it does not come (as lib/mesh/sync/ask_again.ts). */
export function askFor(link: SyncLink, m: Member, v: number, pv: number): void {
  // As a node: no other hello while the last ask's is unanswered (nothing came since it).
  if (m.askAt !== 0 && m.version === m.askFromV && m.pv === m.askFromPv) {
    m.askV = Math.max(m.askV, v);
    m.askPv = Math.max(m.askPv, pv);
    return;
  }
  hello(link, m);
  m.askV = Math.max(m.askV, v);
  m.askPv = Math.max(m.askPv, pv);
  m.askFromV = m.version;
  m.askFromPv = m.pv;
  if (m.askAt !== 0) return;
  m.askTries = 0;
  m.askAt = performance.now() + ASK_AGAIN_MS * (0.5 + Math.random());
}

/** Takes a policy part; a whole policy newer than the one held becomes `m`'s. */
export function onPolicy(m: Member, msg: Policy): void {
  const key = `${msg.pv}|${msg.parts}`;
  const a = m.policy = assembly(m.policy, key, msg.parts);
  if (msg.part < 0 || msg.part >= msg.parts || a.got[msg.part]) return;
  a.got[msg.part] = 1;
  if (--a.left > 0) return;
  m.policy = null;
  if (msg.pv <= m.pv) return;
  m.pv = msg.pv;
  m.policyHistory?.push(msg.pv, now());
}

// The bodies of packed parts, unpacked once for every member: a part is one object for all of
// them (members.ts parses each once), so the ids of a body's parts name it. Bodies are kept
// indexed by key (./view_records.ts), up to a bound of records: at 10,000 members every snapshot
// is one, and each member takes its own version's.
const partIds = new WeakMap<object, number>();
let nextPartId = 1;
/** Records of unpacked bodies kept, at most (about 20 whole views of 10,000). */
export const BODY_RECORDS = 200_000;
const bodies = new IndexCache<string>(BODY_RECORDS);

/** The body of packed `parts` (in part order), unpacked at its first member. */
function bodyOf(parts: View[]): ViewIndex | null {
  const ids = parts.map((p) => {
    let id = partIds.get(p);
    if (id === undefined) partIds.set(p, id = nextPartId++);
    return id;
  });
  const key = ids.join(",");
  let body = bodies.get(key);
  if (body === undefined) {
    const unpacked = unpackBody(parts.map((p) => p.z!));
    body = unpacked ? indexRecords(unpacked.members, unpacked.remove) : null;
    bodies.set(key, body);
  }
  return body;
}

/** Notes what record `r` (in version `v`) says: this member's own, or the watched move. */
function takeRecord(
  a: Assembly,
  m: Member,
  r: { publicKey: string; endpoints?: string[]; lan?: string[] },
  v: number,
  move: WatchedMove | null,
): void {
  if (r.publicKey === m.key) {
    a.own = true;
    m.own = r;
  }
  if (move && move.version === 0 && r.publicKey === move.key) {
    if (r.endpoints?.some((e) => e.startsWith(`${move.address}:`))) move.version = v;
  }
}

/**
 * Takes a view or delta part; once whole, and newer than the version held, it becomes
 * `m`'s version. Notes in `move` the first version that carries the watched move.
 */
export function onView(link: SyncLink, m: Member, msg: View, move: WatchedMove | null): void {
  const key = `${msg.t}|${msg.t === "delta" ? msg.from : ""}|${msg.v}|${msg.parts}`;
  const a = m.view = assembly(m.view, key, msg.parts);
  if (msg.part < 0 || msg.part >= msg.parts || a.got[msg.part]) return;
  a.got[msg.part] = 1;
  a.high = Math.max(a.high, msg.part + 1);
  while (a.low < msg.parts && a.got[a.low]) a.low++;
  if (msg.z !== undefined) (a.packed ??= new Map()).set(msg.part, msg);
  for (const r of msg.members) takeRecord(a, m, r, msg.v, move);
  if (msg.t === "delta" && msg.remove.includes(m.key)) a.removed = true;
  if (--a.left > 0) {
    // As a node: a snapshot's next window once this one is whole; again while parts lack.
    m.snapV = msg.t === "view" ? msg.v : 0;
    if (m.snapV > 0) {
      if (a.low === a.high && a.high % SNAPSHOT_WINDOW === 0) {
        m.fetchTries = 0;
        fetchWindow(link, m, a.high);
      }
      m.fetchAt = performance.now() + ASK_AGAIN_MS * (0.5 + Math.random());
    }
    return;
  }
  m.view = null;
  m.snapV = 0;
  m.fetchAt = 0;
  if (a.packed) {
    // As a node: the packed parts' body, once all came (a body that does not unpack: lost).
    const body = bodyOf([...a.packed.keys()].sort((x, y) => x - y).map((k) => a.packed!.get(k)!));
    if (!body) return;
    // What this member reads of the records: its own, and the watched member's.
    const own = body.byKey.get(m.key);
    if (own) takeRecord(a, m, own, msg.v, move);
    const moved = move && move.key !== m.key ? body.byKey.get(move.key) : undefined;
    if (moved) takeRecord(a, m, moved, msg.v, move);
    if (body.remove.has(m.key)) a.removed = true;
  }
  if (msg.v <= m.version) return;
  m.version = msg.v;
  came(link, m);
  if (m.newsDuring > m.version) askFor(link, m, m.newsDuring, 0);
  m.newsDuring = 0;
  m.history?.push(msg.v, now());
  if (m.viewAt === 0) m.viewAt = now();
  if ((msg.t === "view" && !a.own) || a.removed) {
    m.state = "removed";
    m.tunnel.close();
  }
}

/**
 * A view, delta or policy was taken: news told while the hello was out, past it, is asked for
 * now (as a node's `AskAgain.came`).
 */
function came(link: SyncLink, m: Member): void {
  if (m.askAt === 0) return;
  if (m.version >= m.askV && m.pv >= m.askPv) {
    m.askAt = 0;
    return;
  }
  if (m.version === m.askFromV && m.pv === m.askFromPv) return;
  m.askFromV = m.version;
  m.askFromPv = m.pv;
  hello(link, m);
}

/** Asks again, at time `t` (monotonic ms), for a snapshot window or news that did not come. */
export function askAgain(link: SyncLink, m: Member, t: number): void {
  if (m.fetchAt !== 0 && t >= m.fetchAt) {
    if (m.snapV === 0 || !m.view || ++m.fetchTries > ASK_TRIES) m.fetchAt = 0;
    else {
      fetchWindow(link, m, m.view.low);
      m.fetchAt = t + ASK_AGAIN_MS * 2 ** m.fetchTries;
    }
  }
  if (m.askAt !== 0 && t >= m.askAt) {
    const moved = m.version > m.askFromV || m.pv > m.askFromPv;
    if (moved || (m.version >= m.askV && m.pv >= m.askPv) || ++m.askTries > ASK_TRIES) {
      m.askAt = 0;
    } else {
      hello(link, m);
      m.askAt = t + ASK_AGAIN_MS * 2 ** m.askTries * (0.5 + Math.random());
    }
  }
}

/**
 * Takes a control message from the leader to `m`, as a node's sync does. `lanKeyIds` caches
 * the id of each LAN key text heard (the same for every member).
 */
export function onControl(
  link: SyncLink,
  m: Member,
  msg: ControlMessage,
  move: WatchedMove | null,
  lanKeyIds: Map<string, string>,
): void {
  switch (msg.t) {
    case "probe":
      return link.send(m, { t: "ack", id: msg.id });
    case "pace":
      // As a node: never faster than its own interval.
      m.helloEvery = Math.max(DEFAULT_HELLO_MS, msg.hi);
      return;
    case "changed":
      if (msg.v > m.version || (msg.pv ?? 0) > m.pv) {
        // As a node: not while a snapshot comes; asked once it is whole.
        if ((msg.pv ?? 0) <= m.pv && assembling(m)) m.newsDuring = Math.max(m.newsDuring, msg.v);
        else askFor(link, m, msg.v, msg.pv ?? 0);
      }
      return;
    case "lankey": {
      let id = lanKeyIds.get(msg.k);
      if (id === undefined) {
        const key = decodeLanKey(msg.k);
        id = key ? lanKeyId(key) : "";
        lanKeyIds.set(msg.k, id);
      }
      if (id) m.lk = id;
      return;
    }
    case "bye-ok":
      // Answers after the member gave up count too: late, not lost. When it came is when the
      // kernel took it in: a node reads its own socket at once, while the simulator's thread
      // reads 256 shared ones behind a load as large as the leader's (seconds, at 10,000).
      if (m.byeAt > 0 && m.byeOkAt === 0) {
        m.byeOkAt = performance.now() - m.heardWaitedMs;
        m.byeOkLagMs = m.heardWaitedMs;
      }
      if (m.state === "leaving") {
        m.state = "left";
        m.leaveDone?.();
      }
      return;
    case "policy": {
      const pv = m.pv;
      onPolicy(m, msg);
      if (m.pv > pv) came(link, m);
      return;
    }
    case "view":
    case "delta":
      // A delta's datagrams by what the member made of them: taken as asked for (a hello's
      // answer), as pushed, or dropped (from another version than it holds; while it assembles
      // a whole view).
      if (msg.t === "delta") {
        const applies = appliesTo(msg, m.version);
        link.got?.(
          !applies
            ? (assembling(m) ? "delta-dropped-assembling" : "delta-dropped-other-version")
            : m.askAt !== 0
            ? "delta-asked"
            : "delta-unasked",
        );
        if (!applies) {
          if (msg.part === 0 && msg.from > m.version) {
            if (assembling(m)) m.newsDuring = Math.max(m.newsDuring, msg.v);
            else askFor(link, m, msg.v, 0);
          }
          return;
        }
      }
      return onView(link, m, msg, move);
    case "manifest":
      return link.shared ? onManifest(link.shared, m, msg.d) : undefined;
    case "holders":
      return link.shared ? onHolders(m, msg) : undefined;
    case "piece":
      return link.shared ? onPiece(link.shared, m, msg.piece, m.leaderAddress) : undefined;
    case "plack":
      return link.shared ? onLack(link.shared, m, m.leaderAddress, msg) : undefined;
    case "pushkey":
      return link.carried ? onPushKey(m, msg.k) : undefined;
    case "carry":
      return link.carried ? onCarry(m, msg) : undefined;
    case "carried":
      return link.carried ? onCarried(link.carried, m, msg.c.bytes, m.leaderAddress) : undefined;
    default:
      return;
  }
}
