/**
 * The leader's side of the join exchange: join datagrams on the WireGuard port are admitted by the
 * {@link JoinGate} (MACs, cookies, rates) before any DH, opened, checked field by field, handed to
 * the leader's state and answered. At most 1,024 are handled at once. A joiner resends its request
 * until it hears: a copy of one being handled is dropped before its DH, and a copy of one answered
 * in the last few seconds from the same source gets the same answer again, from memory. Every drop
 * is counted, and the log lines a token holder can cause are kept within a budget. A request
 * naming a member's key is that member's only with its key proof (./key_proof.ts), whose DH is
 * spent only then.
 * @module
 */

import type { Device } from "../../device/device.ts";
import type { Endpoint } from "../../io/driver.ts";
import { LogBudget } from "../../log/budget.ts";
import type { Logger } from "../../log/logger.ts";
import {
  validEndpoints,
  validLabels,
  validRelay,
  validServices,
  validTcpPort,
} from "../../members/validate.ts";
import { parseKey } from "../../crypto/keys.ts";
import { readU32 } from "../../protocol/bytes.ts";
import { clip } from "../../text/quote.ts";
import { dnsLabelProblem } from "../../net/names.ts";
import type { Member } from "../../members/member.ts";
import {
  MSG_JOIN_REQUEST,
  openJoinRequest,
  REQUEST_EPHEMERAL,
  requestTokenId,
  tokenIdNumber,
} from "./crypto.ts";
import { JoinGate } from "./gate.ts";
import type { JoinRequest, JoinResult } from "./request.ts";
import { StoreError } from "../../store/kv.ts";
import { validRouteList } from "../../routes/prefixes.ts";
import { runIdOf } from "../../members/run_id.ts";
import { decodeBase64 } from "../../crypto/base64.ts";
import { KEY_PROOF_SIZE, keyProofHolds } from "./key_proof.ts";
import { refusalDrop } from "./freshness.ts";
import { JOIN_RESEND_LONGEST_MS } from "./resend.ts";

const enc = new TextEncoder();
const dec = new TextDecoder();
// Join requests being handled at once (opened, waiting for the state write); more are dropped.
// Each holds a few hundred bytes; the leader batches changes (../leader/changes.ts), so a burst
// of joins waits a batch or two: at 10,000 members a batch cycle is a few hundred ms, and the
// bound must not be what limits the joins a second (64 held it near 200).
const MAX_JOINS_IN_FLIGHT = 1024;
// Answers kept for copies of their requests (a few hundred bytes each).
const MAX_RECENT_ANSWERS = 4096;

/**
 * A request that waited longer than this in the leader's receive queue is dropped before any MAC
 * (counted `late`), ms: the longest a joiner still asking waits between two copies
 * (./resend.ts: 4 s and half as long again, 6 s), so a copy dropped has a newer one behind it.
 * A shorter bound dropped copies that were the newest: a joiner deep in its backoff sends one
 * every 4 to 6 s, and while the leader was a second or more behind every copy of it was late,
 * so no join got through until the leader caught up (a leader that stays behind never did).
 * Copies that come in the same wait are not answered twice: the first one read is handled, the
 * others are dropped as `resent` before any DH.
 */
export const JOIN_LATE_MS = JOIN_RESEND_LONGEST_MS;

/**
 * How long an answer is kept for copies of its request, ms: twice {@link JOIN_LATE_MS}, so a copy
 * its joiner sent before the answer reached it, read within that (later ones are dropped as
 * late), gets the answer from memory: kept 5 s while copies were read up to 6 s late, a copy
 * read later was opened (a DH) and joined again, for a member that had joined already.
 */
export const RECENT_ANSWER_MS = 2 * JOIN_LATE_MS;

/** A request's ephemeral public key, as a map key (requests are few: a string per request). */
function requestEphemeral(data: Uint8Array): string {
  return String.fromCharCode(...data.subarray(REQUEST_EPHEMERAL, REQUEST_EPHEMERAL + 32));
}

/**
 * Where the leader saw a member, as its record keeps it (`host:port`), or null: only a UDP
 * source counts. A member that reached us over TCP comes from an ephemeral port that no other
 * member could send to.
 */
export function observedEndpoint(from: Endpoint): string | null {
  return from.proto === undefined || from.proto === "udp" ? from.toString() : null;
}

/**
 * The join request in an opened payload, checked field by field; null when malformed. `datagram`
 * is the request as received: the token it names in clear must be the one inside.
 */
export function parseJoinRequest(payload: Uint8Array, datagram: Uint8Array): JoinRequest | null {
  try {
    const raw = JSON.parse(dec.decode(payload));
    const labels = validLabels(raw.labels);
    const services = validServices(raw.services);
    const endpoints = validEndpoints(raw.endpoints);
    const relay = validRelay(raw.relay);
    const tcpPort = validTcpPort(raw.tcpPort);
    const routes = raw.routes === undefined ? undefined : validRouteList(raw.routes);
    const proof = raw.keyProof === undefined ? undefined : keyProofOf(raw.keyProof);
    if (
      typeof raw.publicKey !== "string" || typeof raw.hostname !== "string" ||
      typeof raw.tokenId !== "string" || typeof raw.secret !== "string" ||
      !Number.isSafeInteger(raw.time) || raw.time <= 0 ||
      // The token the MAC was checked with is the token presented.
      tokenIdNumber(raw.tokenId) !== requestTokenId(datagram) ||
      !labels || !services || !endpoints || relay === null || tcpPort === null ||
      routes === null || proof === null
    ) return null;
    parseKey(raw.publicKey, "joiner key");
    return {
      tokenId: raw.tokenId,
      secret: raw.secret,
      publicKey: raw.publicKey,
      hostname: raw.hostname,
      // A malformed one is no reason to refuse: the join falls back to the hostname.
      ...(typeof raw.previousName === "string" && dnsLabelProblem(raw.previousName) === undefined
        ? { previousName: raw.previousName }
        : {}),
      labels,
      services,
      endpoints,
      time: raw.time,
      ...(relay ? { relay } : {}),
      ...(tcpPort !== undefined ? { tcpPort } : {}),
      ...(routes?.length ? { routes } : {}),
      ...(proof !== undefined ? { keyProof: proof } : {}),
      // A malformed one is none: the record gets the run at the node's first hello.
      ...(runIdOf(raw.run) !== undefined ? { run: raw.run } : {}),
    };
  } catch {
    return null;
  }
}

/** A key proof as the request gives it (base64 of its bytes), or null when it is none. */
function keyProofOf(v: unknown): string | null {
  return typeof v === "string" && decodeBase64(v)?.length === KEY_PROOF_SIZE ? v : null;
}

/** What the join server admits joins to: the leader's bookkeeping (`LeaderCore`). */
export interface JoinAdmitter {
  /** The tokens' ids and secret hashes, for the gate. */
  tokenKeys(): { id: string; secretHash: string }[];
  /** Calls `fn` when the tokens change; returns the unsubscribe function. */
  onTokens(fn: () => void): () => void;
  /** The member with this public key, if any (looked up per join: an index, not a search). */
  memberByKey(publicKey: string): Member | undefined;
  /**
   * Admits (or refuses) a join seen from `observed`, at `now`; `holdsKey` says whether the
   * request comes from the holder of the key it names (asked only when a member holds it).
   */
  join(
    req: JoinRequest,
    observed: string | null,
    now: number,
    holdsKey: () => boolean,
  ): Promise<JoinResult>;
}

/** Serves joins on the leader's WireGuard port. See the module docs. */
export class JoinServer {
  readonly #core: JoinAdmitter;
  readonly #device: Device;
  readonly #logger: Logger;
  readonly #gate: JoinGate;
  readonly #stopTokens: () => void;
  readonly #log = new LogBudget();
  #inFlight = 0;
  // The requests being handled, by their ephemeral key: a joiner resends its request until the
  // answer comes (four times a second at first), and a copy of one under way is dropped before
  // its DH, which would only make the same answer again.
  readonly #handling = new Set<string>();
  // The answers of the latest requests (by ephemeral key, oldest first, bounded), for copies
  // that were on their way when the answer went.
  readonly #answered = new Map<string, { bytes: Uint8Array; to: string; at: number }>();
  #storeRefused = 0;

  /** Admits joins to `core` with the tokens it holds now and later. */
  constructor(opts: { core: JoinAdmitter; device: Device; logger: Logger }) {
    this.#core = opts.core;
    this.#device = opts.device;
    this.#logger = opts.logger;
    const gate = this.#gate = new JoinGate(parseKey(opts.device.publicKey, "key"));
    gate.setTokens(opts.core.tokenKeys());
    this.#stopTokens = opts.core.onTokens(() => gate.setTokens(opts.core.tokenKeys()));
  }

  /** Join datagrams dropped, by reason (`weft_join_drops_total`). */
  drops(): Record<string, number> {
    return this.#gate.drops();
  }

  /** Joins refused because the leader's store refused the write (no quorum, unreachable). */
  get storeRefused(): number {
    return this.#storeRefused;
  }

  /**
   * Handles an underlay datagram that is no WireGuard message, which waited `waitedMs` in the
   * receive queue (0: not known).
   */
  handle(data: Uint8Array, from: Endpoint, waitedMs: number = 0): void {
    const gate = this.#gate;
    const device = this.#device;
    if (readU32(data, 0) !== MSG_JOIN_REQUEST) {
      // Not ours either: counted as the device counts any message of no known type.
      device.drops.add("unknown-type");
      return;
    }
    if (waitedMs > JOIN_LATE_MS) {
      gate.drop("late");
      return;
    }
    const verdict = gate.check(data, from);
    if (verdict === "cookie") device.sendDatagram(gate.reply.slice(), from);
    if (verdict !== "open") return;
    // Each request being handled holds a DH's result and a queued change: bounded.
    if (this.#inFlight >= MAX_JOINS_IN_FLIGHT) {
      gate.drop("busy");
      return;
    }
    const id = requestEphemeral(data);
    if (this.#handling.has(id)) {
      gate.drop("resent");
      return;
    }
    const done = this.#answered.get(id);
    if (done && done.to === from.toString() && performance.now() - done.at < RECENT_ANSWER_MS) {
      gate.drop("resent");
      device.sendDatagram(done.bytes.slice(), from);
      return;
    }
    const priv = device.privateKeyBytes();
    const opened = openJoinRequest(
      device.dhBackend,
      device.aeadBackend,
      priv,
      parseKey(device.publicKey, "key"),
      data,
    );
    priv.fill(0);
    if (!opened) {
      gate.drop("decrypt");
      return;
    }
    const answer = (res: unknown) => {
      const bytes = opened.respond(enc.encode(JSON.stringify(res)));
      this.#remember(id, bytes.slice(), from.toString());
      device.sendDatagram(bytes, from);
    };
    const req = parseJoinRequest(opened.payload, data);
    if (!req) {
      gate.drop("malformed");
      // What the joiner announced is at fault (a value its flags could not give): usage.
      answer({ ok: false, error: "malformed request", usage: true });
      return;
    }
    this.#join(req, from, answer, id, this.#holdsKey(req, data));
  }

  /**
   * Whether `req` (in `data`) proves it comes from the holder of the key it names, asked once at
   * most: only a request naming a member's key needs its DH.
   */
  #holdsKey(req: JoinRequest, data: Uint8Array): () => boolean {
    const ephemeral = data.slice(REQUEST_EPHEMERAL, REQUEST_EPHEMERAL + 32);
    let holds: boolean | undefined;
    return () => {
      if (holds !== undefined) return holds;
      const proof = req.keyProof === undefined ? null : decodeBase64(req.keyProof);
      if (proof === null) return holds = false;
      const device = this.#device;
      const priv = device.privateKeyBytes();
      holds = keyProofHolds(device.dhBackend, priv, {
        leaderKey: parseKey(device.publicKey, "key"),
        joinerKey: parseKey(req.publicKey, "joiner key"),
        ephemeral,
        time: req.time,
      }, proof);
      priv.fill(0);
      return holds;
    };
  }

  #remember(id: string, bytes: Uint8Array, to: string): void {
    const answered = this.#answered;
    answered.delete(id);
    answered.set(id, { bytes, to, at: performance.now() });
    if (answered.size > MAX_RECENT_ANSWERS) answered.delete(answered.keys().next().value!);
  }

  #join(
    req: JoinRequest,
    from: Endpoint,
    answer: (res: unknown) => void,
    id: string,
    holdsKey: () => boolean,
  ): void {
    const observed = observedEndpoint(from);
    const endpoint = from.toString();
    const core = this.#core;
    // A new member is always logged; repeated answers and refusals, which a token holder can
    // cause at will, within a budget.
    const known = core.memberByKey(req.publicKey) !== undefined;
    this.#inFlight++;
    this.#handling.add(id);
    core.join(req, observed, Date.now(), holdsKey).then((res) => {
      const drop = res.ok ? null : refusalDrop(res.error);
      if (drop !== null) this.#gate.drop(drop);
      const suppressed = res.ok && !known ? 0 : this.#log.take();
      if (suppressed !== null) {
        const more = suppressed ? { suppressed } : {};
        if (res.ok) {
          this.#logger.info("node joined", {
            name: res.member.name,
            // The leader owns names: one other than asked is said (../leader/names.ts).
            ...(res.member.name !== req.hostname ? { asked: clip(req.hostname) } : {}),
            address: res.member.address,
            endpoint,
            ...more,
          });
        } else {
          this.#logger.warn("join refused", {
            hostname: clip(req.hostname),
            reason: res.error,
            endpoint,
            ...more,
          });
        }
      }
      answer(res);
    }).catch((e) => {
      // Nothing was allocated: the joiner hears why instead of waiting for its timeout.
      if (e instanceof StoreError) {
        // The shared store refused (no quorum, unreachable): said as it is, never answered
        // from memory; the joiner may ask another leader. Logged within the budget.
        this.#storeRefused++;
        const suppressed = this.#log.take();
        if (suppressed !== null) {
          this.#logger.warn("join refused: the store refused the write", {
            hostname: clip(req.hostname),
            error: e.message,
            endpoint,
            ...(suppressed ? { suppressed } : {}),
          });
        }
        answer({ ok: false, error: e.message, store: true });
        return;
      }
      this.#logger.error("join failed", { hostname: clip(req.hostname), error: String(e) });
      answer({ ok: false, error: "the leader could not save the join (see its log)" });
    }).finally(() => {
      this.#inFlight--;
      this.#handling.delete(id);
    });
  }

  /** Stops following the leader's tokens. */
  close(): void {
    this.#stopTokens();
  }
}
