/**
 * Membership sync inside the tunnel, on the control port of overlay addresses. Pull with a push
 * hint: nodes say `hello` (with the version they hold and their advertised endpoints and
 * services) every few seconds and whenever the leader says `changed`; the leader answers a
 * stale version with the view in datagram-sized parts. Lost datagrams only delay the next round.
 * WireGuard already authenticates every packet, and the source overlay address says which
 * member sent it.
 * @module
 */

import type { UserspaceStack } from "../../../drivers/userspace.ts";
import { CONTROL_PORT } from "../../members/ports.ts";
import type { Member, MembershipView, ServiceSpec } from "../../members/member.ts";
import { type RelayMessage, validateRelayMessage } from "../../relay/messages.ts";
import { type LeaseMessage, parseLeaseMessage } from "../../services/lease/protocol.ts";
import { type LinksMessage, parseLinksMessage } from "./links.ts";
import { PACKED, unpackBody, unpackPart } from "./packed.ts";
import { withinTimeout } from "../../health/prober.ts";
import {
  MANIFEST,
  type ManifestDatagram,
  parseManifestDatagram,
  PIECE,
  pieceDatagram,
  unpackPiece,
} from "./manifest.ts";
import { ASK_MAX, parsePieceLack } from "./piece_holder.ts";
import {
  CARRIED,
  type CarriedPart,
  CARRY_PARTS_MAX,
  CARRY_TO_MAX,
  unpackCarried,
} from "./carried.ts";

/** The most holders a `holders` message names (./manifest.ts: members serving a shared view). */
export const HOLDERS_MAX = 4;

/** A candidate endpoint in a call-me: its kind (`lan`, `advertised`, `observed`) and `host:port`. */
export interface WireCandidate {
  /** Where it comes from. */
  k: string;
  /** `host:port`. */
  e: string;
}

/** Milliseconds between a node's hellos to its leader, unless configured otherwise. */
export const DEFAULT_HELLO_MS = 3000;

/** The longest interval between hellos a hello may state, ms (an hour). */
export const MAX_HELLO_MS = 3_600_000;

/** A hello's `hi` when it is a valid interval (whole ms, 10 ms to an hour), else undefined. */
export function helloEveryOf(hi: unknown): number | undefined {
  return Number.isInteger(hi) && (hi as number) >= 10 && (hi as number) <= MAX_HELLO_MS
    ? hi as number
    : undefined;
}

/**
 * The most hellos a second a leader paces its members to: past this many members (times the
 * default interval), it asks each for a longer interval, so a fleet's steady traffic to it stays
 * bounded as the fleet grows (Tailscale's clients poll their control server about once a minute).
 * Each hello comes with a probe of the leader and a link report, so this is about three times as
 * many datagrams a second, and their answers: at a thousand hellos a second a leader of 10,000
 * held up to 4 MB unread in its socket while it took joins and leaves, and byes waited behind it
 * (docs/performance.md, "Half the hellos at 10,000").
 */
export const LEADER_HELLOS_PER_SECOND = 500;

/** The longest hello interval a leader asks for, ms. */
export const MAX_PACED_HELLO_MS = 30_000;

/**
 * The hello interval a leader asks of its members in a mesh of `members`: the default up to
 * `perSecond` × 3 members, then a whole second for every `perSecond` members, at most
 * {@link MAX_PACED_HELLO_MS}.
 *
 * @example
 * ```ts
 * import { pacedHelloMs } from "./protocol.ts";
 * pacedHelloMs(100); // 3000
 * pacedHelloMs(3_000); // 6000
 * pacedHelloMs(10_000); // 20000
 * ```
 */
export function pacedHelloMs(members: number, perSecond = LEADER_HELLOS_PER_SECOND): number {
  const ms = Math.ceil(members / perSecond) * 1000;
  return Math.min(MAX_PACED_HELLO_MS, Math.max(DEFAULT_HELLO_MS, ms));
}

/** A hello's `rtt` when it is a valid RTT (a number of ms from 0 to a minute), else null. */
export function helloRttOf(rtt: unknown): number | null {
  return typeof rtt === "number" && rtt >= 0 && rtt <= 60_000 ? rtt : null;
}

/** A control message. */
export type ControlMessage =
  | {
    t: "hello";
    v: number;
    pv?: number;
    endpoints: string[];
    services?: ServiceSpec[];
    labels?: Record<string, string>;
    /** The node's LAN candidates (`host:port`), at most 8. */
    lan?: string[];
    /** The id of the LAN key the node holds (`lanKeyId`); absent when it holds none. */
    lk?: string;
    /** Present when the node relays for others. */
    relay?: true;
    /** The node's TCP port; absent when it has no TCP. */
    tcpPort?: number;
    /**
     * The routes the node offers to carry (canonical prefixes, the default routes for an exit
     * node); absent: none.
     */
    routes?: string[];
    /**
     * Milliseconds to this node's next hello (its interval): the leader counts a hello missed
     * by it. Absent (an older node): {@link DEFAULT_HELLO_MS}.
     */
    hi?: number;
    /**
     * The RTT of this node's latest probe of the leader in use, ms, when it was answered: the
     * leader judges the node's health by its hellos and this, without probing it.
     */
    rtt?: number;
    /** The node's run id (random at each start): a new one says it restarted. */
    r?: string;
    /**
     * Present when the node fetches whole views in windows ({@link SNAPSHOT_WINDOW} parts, then
     * a `fetch` for the next): the leader sends it the first window of a snapshot, not all of it.
     */
    fw?: true;
    /** The snapshot the node is assembling (its version) and the first part it lacks. */
    sv?: number;
    sp?: number;
    /**
     * Present when the node takes packed views and deltas (./packed.ts: records deflated once
     * and cut into chunks, a quarter to a third of the datagrams): the leader sends them to it.
     */
    fz?: true;
    /**
     * Present when the node takes shared views (./manifest.ts): a manifest from the leader and
     * the pieces from the members it names; the leader sends its whole view so, not in windows.
     */
    fs?: true;
    /** The version of the shared view whose pieces the node holds and serves (./piece_holder.ts). */
    hz?: number;
    /**
     * Present when the node takes pushes its peers carry and carries them (./carried.ts): the id
     * of the push key it holds of the leader it says hello to ("" when none; the leader answers
     * with `pushkey`).
     */
    ck?: string;
  }
  /** The leader's answer to a hello whose `ck` is not its push key's id: the key, base64. */
  | { t: "pushkey"; k: string }
  /**
   * The leader asks the receiver to pass the next `n` carried parts of the push from version `f`
   * to `v` on to the members at these overlay addresses (./carried.ts).
   */
  | { t: "carry"; f: number; v: number; n: number; to: string[] }
  /** A part of a push signed by a leader, as a member passes it on (./carried.ts). */
  | { t: "carried"; c: CarriedPart }
  /** A datagram of a shared view's manifest (./manifest.ts), checked on its own. */
  | { t: "manifest"; d: ManifestDatagram }
  /** A piece of a shared view (./manifest.ts): known by its digest, checked by the receiver. */
  | { t: "piece"; piece: Uint8Array }
  /** The members the leader names as holders of the shared view at `v` (at most {@link HOLDERS_MAX}). */
  | { t: "holders"; v: number; members: Member[] }
  /**
   * A member's ask for pieces by digest (base64) of the shared view at `v`; the receiver checks
   * the digests and counts the malformed (./piece_holder.ts), so only the list's size is bounded
   * here.
   */
  | { t: "pget"; v: number; d: unknown[] }
  /** The digests asked for that the asked one does not hold. */
  | { t: "plack"; v: number; d: string[] }
  /**
   * A node's ask for the parts of snapshot `v` (a whole view, in windows) from `part` on; it
   * holds version `h`. A leader that no longer keeps that snapshot answers as a hello from
   * version `h` (a delta, or the first window of its newest snapshot: the node starts over).
   */
  | { t: "fetch"; h: number; v: number; part: number }
  /**
   * The leader's answer to a hello whose interval (`hi`) is not the one it paces its members to
   * ({@link pacedHelloMs}): hellos every `hi` ms from now on (never more often than the node's
   * own interval).
   */
  | { t: "pace"; hi: number }
  /** The leader's answer to a hello whose `lk` is not its key's: the key, base64. */
  | { t: "lankey"; k: string }
  /**
   * "Punch towards me now": a node asks the leader (`to`: the peer's key) and the leader tells
   * that peer (`from`: the asking node's key), each with the asking node's candidates.
   */
  | { t: "callme"; to?: string; from?: string; c: WireCandidate[] }
  | { t: "changed"; v: number; pv?: number }
  | { t: "policy"; pv: number; part: number; parts: number; text: string }
  | {
    t: "view";
    v: number;
    network: string;
    network6?: string;
    part: number;
    parts: number;
    members: Member[];
    /** A packed part's chunk (./packed.ts): its records come with the whole view. */
    z?: Uint8Array;
  }
  | {
    t: "delta";
    from: number;
    v: number;
    network: string;
    part: number;
    parts: number;
    members: Member[];
    remove: string[];
    /** A packed part's chunk (./packed.ts): its records and removals come with the whole delta. */
    z?: Uint8Array;
  }
  | { t: "probe"; id: number }
  /**
   * A probe's answer. `stale` (a leader only): its shared store is unreachable, so its view
   * may be old; members move to a leader that reaches the store. Older agents ignore it.
   */
  | { t: "ack"; id: number; stale?: true }
  /**
   * A node stopping on purpose tells the leader (`k`: its own key, which the leader checks
   * against the sender's); the leader answers `bye-ok` once every member was told. Older
   * leaders drop both, and the node goes after a short wait.
   */
  | { t: "bye"; k: string }
  | { t: "bye-ok" }
  /** Relay setup (lib/relay/messages.ts): members ask relays for sessions, relays grant them. */
  | RelayMessage
  /** Service-leader leases (lib/services/lease/protocol.ts): members ask, the leader grants. */
  | LeaseMessage
  /** A member's link report to the leader (./links.ts). */
  | LinksMessage;

const enc = new TextEncoder();
const dec = new TextDecoder();
const PART_BYTES = 1100;

/**
 * The parts of a snapshot a leader sends at once, windows aligned to multiples of it: a node that
 * holds every part below a window's end asks for the next window (`fetch`), and one that lost a
 * part asks again from it, so a lost datagram costs at most a window, not the whole view (at
 * 10,000 members a view is some 2,500 datagrams, and sent whole it seldom all arrived).
 */
export const SNAPSHOT_WINDOW = 128;

function group(members: Member[], extra = 0): Member[][] {
  const groups: Member[][] = [[]];
  let size = extra;
  for (const m of members) {
    const n = JSON.stringify(m).length;
    if (size + n > PART_BYTES && groups.at(-1)!.length > 0) {
      groups.push([]);
      size = 0;
    }
    groups.at(-1)!.push(m);
    size += n;
  }
  return groups;
}

/** Splits a view into messages that each fit one datagram. */
export function viewParts(view: MembershipView): ControlMessage[] {
  const groups = group(view.members);
  return groups.map((members, part) => ({
    t: "view",
    v: view.version,
    network: view.network,
    ...(view.network6 ? { network6: view.network6 } : {}),
    part,
    parts: groups.length,
    members,
  }));
}

/** Splits the changes from version `from` to `view.version` into datagram-sized messages. */
export function deltaParts(
  from: number,
  view: MembershipView,
  changes: { upsert: Member[]; remove: string[] },
): ControlMessage[] {
  // Removals go in the first part; keys are short, and a removal is rarely large.
  const groups = group(changes.upsert, changes.remove.length * 48);
  return groups.map((members, part) => ({
    t: "delta",
    from,
    v: view.version,
    network: view.network,
    part,
    parts: groups.length,
    members,
    remove: part === 0 ? changes.remove : [],
  }));
}

/** Splits a policy's text into datagram-sized messages. */
export function policyParts(policy: { version: number; text: string }): ControlMessage[] {
  const size = 1000;
  const n = Math.max(1, Math.ceil(policy.text.length / size));
  return Array.from({ length: n }, (_, part) => ({
    t: "policy",
    pv: policy.version,
    part,
    parts: n,
    text: policy.text.slice(part * size, (part + 1) * size),
  }));
}

/** Reassembles a policy from its parts. */
export class PolicyAssembler {
  #key = "";
  #parts: (string | undefined)[] = [];

  /** Adds a part; returns the whole policy once every part of one version arrived. */
  add(msg: Extract<ControlMessage, { t: "policy" }>): { version: number; text: string } | null {
    const key = `${msg.pv}|${msg.parts}`;
    if (key !== this.#key) {
      this.#key = key;
      this.#parts = new Array(msg.parts).fill(undefined);
    }
    if (msg.part < 0 || msg.part >= msg.parts) return null;
    this.#parts[msg.part] = msg.text;
    if (this.#parts.some((p) => p === undefined)) return null;
    const text = this.#parts.join("");
    this.#key = "";
    this.#parts = [];
    return { version: msg.pv, text };
  }
}

/** The largest control message read: one UDP datagram. */
export const MAX_CONTROL_BYTES = 65_535;

// Versions, parts and ids: non-negative integers that arithmetic keeps exact.
const count = (v: unknown): boolean => Number.isSafeInteger(v) && (v as number) >= 0;
const optionalCount = (v: unknown): boolean => v === undefined || count(v);

const viewHead = (m: Record<string, unknown>): boolean =>
  Number.isInteger(m.v) && Number.isInteger(m.part) && Number.isInteger(m.parts) &&
  (m.parts as number) > 0 && (m.parts as number) < 100_000 && typeof m.network === "string";

/** A packed part (./packed.ts) as a view or delta message carrying its chunk; null if malformed. */
function parsePacked(data: Uint8Array): ControlMessage | null {
  const p = unpackPart(data);
  if (!p) return null;
  const h = p.head;
  if (!viewHead(h) || (h.network6 !== undefined && typeof h.network6 !== "string")) return null;
  const head = {
    v: h.v as number,
    network: h.network as string,
    part: h.part as number,
    parts: h.parts as number,
    members: [],
    z: p.chunk,
  };
  if (h.t === "view") {
    return { t: "view", ...head, ...(h.network6 ? { network6: h.network6 as string } : {}) };
  }
  if (h.t === "delta" && Number.isInteger(h.from)) {
    return { t: "delta", from: h.from as number, ...head, remove: [] };
  }
  return null;
}

/** Parses a control message; null for anything malformed. */
export function parseMessage(data: Uint8Array): ControlMessage | null {
  if (data.length > MAX_CONTROL_BYTES) return null;
  if (data[0] === PACKED) return parsePacked(data);
  if (data[0] === PIECE) {
    const piece = unpackPiece(data);
    return piece ? { t: "piece", piece } : null;
  }
  if (data[0] === MANIFEST) {
    const d = parseManifestDatagram(data);
    return d ? { t: "manifest", d } : null;
  }
  if (data[0] === CARRIED) {
    const c = unpackCarried(data);
    return c ? { t: "carried", c } : null;
  }
  let o: unknown;
  try {
    o = JSON.parse(dec.decode(data));
  } catch {
    return null;
  }
  if (typeof o !== "object" || o === null) return null;
  const m = o as Record<string, unknown>;
  switch (m.t) {
    case "hello":
      return count(m.v) && optionalCount(m.pv) && Array.isArray(m.endpoints) &&
          m.endpoints.every((e) => typeof e === "string")
        ? m as ControlMessage
        : null;
    case "changed":
      return count(m.v) && optionalCount(m.pv) ? m as ControlMessage : null;
    case "fetch":
      return count(m.h) && count(m.v) && count(m.part) && (m.part as number) < 100_000
        ? { t: "fetch", h: m.h as number, v: m.v as number, part: m.part as number }
        : null;
    case "view":
      // A chunk comes only in a packed part.
      return viewHead(m) && Array.isArray(m.members) && m.z === undefined
        ? m as ControlMessage
        : null;
    case "delta":
      return viewHead(m) && Number.isInteger(m.from) && Array.isArray(m.members) &&
          Array.isArray(m.remove) && m.z === undefined
        ? m as ControlMessage
        : null;
    case "policy":
      return Number.isInteger(m.pv) && Number.isInteger(m.part) && Number.isInteger(m.parts) &&
          (m.parts as number) > 0 && (m.parts as number) < 10_000 && typeof m.text === "string"
        ? m as ControlMessage
        : null;
    case "lankey":
      return typeof m.k === "string" ? m as ControlMessage : null;
    case "pushkey":
      return typeof m.k === "string" && m.k.length <= 64 ? { t: "pushkey", k: m.k } : null;
    case "carry":
      return count(m.f) && count(m.v) && count(m.n) && (m.n as number) <= CARRY_PARTS_MAX &&
          Array.isArray(m.to) && m.to.length <= CARRY_TO_MAX &&
          m.to.every((a) => typeof a === "string" && a.length <= 45)
        ? { t: "carry", f: m.f as number, v: m.v as number, n: m.n as number, to: m.to }
        : null;
    case "pace": {
      const hi = helloEveryOf(m.hi);
      return hi === undefined ? null : { t: "pace", hi };
    }
    case "callme":
      // Only the shape: the receiver checks the keys and each candidate, and counts refusals.
      return (typeof m.to === "string" || typeof m.from === "string") && Array.isArray(m.c)
        ? m as ControlMessage
        : null;
    case "bye":
      // A key is 44 characters of base64: anything longer is no key.
      return typeof m.k === "string" && m.k.length <= 64 ? { t: "bye", k: m.k } : null;
    case "bye-ok":
      return { t: "bye-ok" };
    case "probe":
      return Number.isInteger(m.id) ? { t: "probe", id: m.id as number } : null;
    case "ack":
      if (!Number.isInteger(m.id)) return null;
      return m.stale === true ? { t: "ack", id: m.id as number, stale: true } : {
        t: "ack",
        id: m.id as number,
      };
    case "relay-open":
    case "relay-close":
    case "relay-session":
    case "relay-closed":
      return validateRelayMessage(m);
    case "lease-ask":
    case "lease-release":
    case "lease":
    case "leases":
      return parseLeaseMessage(m);
    case "links":
      return parseLinksMessage(m);
    case "holders":
      return count(m.v) && Array.isArray(m.members) && m.members.length <= HOLDERS_MAX &&
          m.members.every((x) =>
            typeof x === "object" && x !== null && typeof x.publicKey === "string" &&
            typeof x.address === "string" && Array.isArray(x.endpoints)
          )
        ? { t: "holders", v: m.v as number, members: m.members as Member[] }
        : null;
    case "pget":
      // Twice a holder's limit: past that no ask is worth a look (the holder counts the rest).
      return count(m.v) && Array.isArray(m.d) && m.d.length <= 2 * ASK_MAX
        ? { t: "pget", v: m.v as number, d: m.d }
        : null;
    case "plack":
      return parsePieceLack(m);
    default:
      return null;
  }
}

/** A control message's bytes on the wire: encode once, send to many (`sendEncoded`). */
export function encodeMessage(msg: ControlMessage): Uint8Array {
  // A piece is its bytes behind a marker (./manifest.ts); a manifest is encoded by its maker.
  if (msg.t === "piece") return pieceDatagram(msg.piece);
  if (msg.t === "carried") return msg.c.bytes;
  return enc.encode(JSON.stringify(msg));
}

/** Sends a control message to an overlay address. */
export function sendMessage(stack: UserspaceStack, address: string, msg: ControlMessage): void {
  sendEncoded(stack, address, encodeMessage(msg));
}

/** Sends a control message encoded already (by {@link encodeMessage}) to an overlay address. */
export function sendEncoded(stack: UserspaceStack, address: string, bytes: Uint8Array): void {
  stack.sendTo(address, CONTROL_PORT, bytes, CONTROL_PORT);
}

/**
 * Whether a delta applies to a view at `version`: it was made from that version or an older one,
 * and reaches past it. A delta holds each record changed since its base as the leader has it at
 * the delta's version (and each removal), so one from an older base brings a newer view to the
 * delta's version as well: a node that moved on since (a push, another answer) takes it all the
 * same instead of dropping it and asking again.
 *
 * @example
 * ```ts
 * import { appliesTo } from "./protocol.ts";
 * appliesTo({ from: 3, v: 9 }, 5); // true
 * appliesTo({ from: 6, v: 9 }, 5); // false: what changed from 5 to 6 is not in it
 * ```
 */
export function appliesTo(delta: { from: number; v: number }, version: number): boolean {
  return delta.from <= version && delta.v > version;
}

/**
 * Reassembles views and deltas from their parts and applies them to the view held; returns the
 * new view once complete, or null (incomplete, or a delta that does not apply to the view held:
 * {@link appliesTo}). A view's members are taken once each, the last part's record winning (a
 * snapshot's own part repeats the node's record).
 */
export class ViewAssembler {
  #key = "";
  #parts: (Extract<ControlMessage, { t: "view" | "delta" }> | undefined)[] = [];
  #left = 0;
  // The first part missing, and one past the highest part held.
  #low = 0;
  #high = 0;
  #v = 0;
  /** Views and deltas dropped whole because their packed body did not unpack (./packed.ts). */
  malformed = 0;

  /** Adds a part; `current` is the view held now. */
  add(
    msg: Extract<ControlMessage, { t: "view" | "delta" }>,
    current: MembershipView,
  ): MembershipView | null {
    if (msg.t === "delta" && !appliesTo(msg, current.version)) return null;
    const key = `${msg.t}|${msg.t === "delta" ? msg.from : ""}|${msg.v}|${msg.parts}`;
    if (key !== this.#key) {
      this.#key = key;
      this.#parts = new Array(msg.parts).fill(undefined);
      this.#left = msg.parts;
      this.#low = this.#high = 0;
      this.#v = msg.v;
    }
    if (msg.part < 0 || msg.part >= msg.parts) return null;
    if (this.#parts[msg.part] === undefined) this.#left--;
    this.#parts[msg.part] = msg;
    this.#high = Math.max(this.#high, msg.part + 1);
    while (this.#low < this.#parts.length && this.#parts[this.#low] !== undefined) this.#low++;
    if (this.#left > 0) return null;
    const parts = this.#parts as Extract<ControlMessage, { t: "view" | "delta" }>[];
    this.#key = "";
    this.#parts = [];
    // Packed parts' chunks, in part order, make one body: taken before the plain parts (a
    // member's own record, in a part of its own, comes last and wins).
    const chunks = parts.filter((p) => p.z !== undefined).map((p) => p.z!);
    const body = chunks.length > 0 ? unpackBody(chunks) : { members: [], remove: [] };
    if (!body) {
      this.malformed++;
      return null;
    }
    const byKey = msg.t === "view"
      ? new Map<string, Member>()
      : new Map(current.members.map((m) => [m.publicKey, m]));
    if (msg.t === "delta") {
      for (const k of body.remove) byKey.delete(k);
      for (const p of parts) for (const k of p.t === "delta" ? p.remove : []) byKey.delete(k);
    }
    for (const m of body.members) byKey.set(m.publicKey, m);
    for (const p of parts) for (const m of p.members) byKey.set(m.publicKey, m);
    if (msg.t === "view") {
      return {
        network: msg.network,
        ...(msg.network6 ? { network6: msg.network6 } : {}),
        version: msg.v,
        members: [...byKey.values()],
      };
    }
    return { ...current, network: msg.network, version: msg.v, members: [...byKey.values()] };
  }

  /**
   * The whole view being assembled, if any: its version, its parts, the first part missing
   * (`next`) and one past the highest part held (`high`).
   */
  snapshot(): { v: number; parts: number; next: number; high: number } | null {
    if (!this.#key.startsWith("view|")) return null;
    return { v: this.#v, parts: this.#parts.length, next: this.#low, high: this.#high };
  }

  /** Forgets the parts held (the leader started another snapshot, or the node moved on). */
  reset(): void {
    this.#key = "";
    this.#parts = [];
  }
}

/** The most overlay addresses whose probe packets a {@link Prober} counts. */
export const PROBER_MAX_ADDRESSES = 16_384;

/**
 * Answers probes on the control port and measures round trips of our own. A leader's answers
 * say when its store is unreachable ({@link Prober.answerStale}); the prober keeps what each
 * address's latest answer said ({@link Prober.staleAt}).
 */
export class Prober {
  readonly #pending = new Map<
    number,
    { at: number; timeoutMs: number; address: string; resolve: (rtt: number | null) => void }
  >();
  // Whether our answers say "stale" now (a leader cut off from its store).
  #stale: () => boolean = () => false;
  // The addresses whose latest answer to our probe said "stale" (bounded by the probes sent).
  readonly #staleAt = new Set<string>();
  // Probe packets per overlay address, both ways: what sessions on demand take off a peer's
  // traffic, so that probing a peer does not keep its session (lib/mesh/peers/activity.ts).
  // A member routing a prefix (a subnet router, an exit node) may send from any address in
  // it: the map is bounded, and kept to the view's addresses (`retain`).
  readonly #packets = new Map<string, number>();
  #untracked = 0;
  #next = 1;

  constructor(private readonly stack: UserspaceStack) {}

  /** Probe packets exchanged with an address so far: ours and their answers, theirs and ours. */
  packets(address: string): number {
    return this.#packets.get(address) ?? 0;
  }

  /**
   * Probe packets not counted because {@link PROBER_MAX_ADDRESSES} addresses were counted
   * already (sources outside the view, between two `retain`s).
   */
  get untracked(): number {
    return this.#untracked;
  }

  /** Forgets the counts of addresses `keep` refuses (members that left the view). */
  retain(keep: (address: string) => boolean): void {
    for (const a of this.#packets.keys()) if (!keep(a)) this.#packets.delete(a);
    for (const a of this.#staleAt) if (!keep(a)) this.#staleAt.delete(a);
  }

  /** Has every answer from now on say `stale` while `fn` is true (a leader's store is cut off). */
  answerStale(fn: () => boolean): void {
    this.#stale = fn;
  }

  /** Whether the latest answer from `address` to a probe of ours said `stale`. */
  staleAt(address: string): boolean {
    return this.#staleAt.has(address);
  }

  #count(address: string, n: number): void {
    const had = this.#packets.get(address);
    if (had === undefined && this.#packets.size >= PROBER_MAX_ADDRESSES) {
      this.#untracked += n;
      return;
    }
    this.#packets.set(address, (had ?? 0) + n);
  }

  /**
   * Probes an overlay address; resolves with the RTT in ms, null on timeout, or NaN (answered,
   * not timed) for an answer read only after the timeout was due: the process did not run its
   * timer, so it was stalled (a starved or blocked event loop), and the time is the stall's.
   */
  probe(address: string, timeoutMs = 2000): Promise<number | null> {
    const id = this.#next++;
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.#pending.delete(id);
        resolve(null);
      }, timeoutMs);
      this.#pending.set(id, {
        at: performance.now(),
        timeoutMs,
        address,
        resolve: (rtt) => {
          clearTimeout(timer);
          resolve(rtt);
        },
      });
      try {
        this.#count(address, 1);
        sendMessage(this.stack, address, { t: "probe", id });
      } catch {
        this.#pending.get(id)?.resolve(null);
        this.#pending.delete(id);
      }
    });
  }

  /** Handles probe traffic; true when the message was one. */
  handle(msg: ControlMessage, from: string): boolean {
    if (msg.t === "probe") {
      this.#count(from, 2);
      sendMessage(this.stack, from, {
        t: "ack",
        id: msg.id,
        ...(this.#stale() ? { stale: true } : {}),
      });
      return true;
    }
    if (msg.t === "ack") {
      this.#count(from, 1);
      const p = this.#pending.get(msg.id);
      if (p) {
        this.#pending.delete(msg.id);
        // Only the address probed speaks for itself (WireGuard authenticated the sender).
        if (p.address === from) {
          if (msg.stale === true) this.#staleAt.add(from);
          else this.#staleAt.delete(from);
        }
        p.resolve(withinTimeout(performance.now() - p.at, p.timeoutMs));
      }
      return true;
    }
    return false;
  }

  /** Fails every pending probe. */
  close(): void {
    for (const p of this.#pending.values()) p.resolve(null);
    this.#pending.clear();
  }
}
