/**
 * From query bytes to response bytes, independent of the socket: decode, validate, answer from
 * the zone, forward or refuse, encode within the client's size limit.
 * @module
 */

import type { Logger } from "../log/logger.ts";
import type { Forwarder } from "./forward.ts";
import { canonicalName } from "./names.ts";
import { dnsRouteFor } from "../net/dns_route.ts";
import { countAnswer, type DnsStats } from "./stats.ts";
import {
  CLASSIC_UDP_SIZE,
  decodeMessage,
  type DnsMessage,
  type DnsQuestion,
  DnsWriter,
  type Edns,
  encodeInto,
  MAX_MESSAGE,
  OPCODE_QUERY,
  Rcode,
} from "./wire.ts";
import type { DnsZone, QueryContext } from "./zone.ts";

/** Options of {@linkcode DnsResponder}. */
export interface ResponderOptions {
  /** The zone answered authoritatively. */
  zone: DnsZone;
  /** Counters to update. */
  stats: DnsStats;
  /** Where names outside the zone go; without it they are REFUSED. */
  forwarder?: Forwarder | null;
  /** Split DNS: names under each domain (lowercase, final dot) go to its own forwarder. */
  routes?: readonly { domain: string; forwarder: Forwarder }[];
  /**
   * Whether a query from `remoteAddress` may be forwarded (split DNS included); the others are
   * REFUSED and counted (`forwardRefused`). Absent: every query may.
   */
  forwardFor?: (remoteAddress: string | null) => boolean;
  /** The largest UDP response sent and advertised in our OPT; default 4096. */
  maxUdpSize?: number;
  /** Debug events for malformed input and forwarding failures. */
  logger?: Logger;
}

/** The UDP payload size advertised by default (RFC 6891 allows up to 4096 in practice). */
export const DEFAULT_MAX_UDP = 4096;

/** A response, or null for no response, or a promise of one (forwarded queries). */
export type Response = Uint8Array | null | Promise<Uint8Array | null>;

/** Turns query bytes into response bytes (TCP responses carry their 2-byte length prefix). */
export class DnsResponder {
  readonly #zone: DnsZone;
  readonly #stats: DnsStats;
  readonly #forwarder: Forwarder | null;
  readonly #routes: readonly { domain: string; forwarder: Forwarder }[];
  readonly #forwardFor: ((remoteAddress: string | null) => boolean) | null;
  readonly #maxUdp: number;
  readonly #logger: Logger | undefined;
  // One writer for every synchronous answer; its output is copied before the next one.
  readonly #writer = new DnsWriter(2);

  /** A responder over `options.zone`. */
  constructor(options: ResponderOptions) {
    this.#zone = options.zone;
    this.#stats = options.stats;
    this.#forwarder = options.forwarder ?? null;
    this.#routes = options.routes ?? [];
    this.#forwardFor = options.forwardFor ?? null;
    const max = options.maxUdpSize ?? DEFAULT_MAX_UDP;
    this.#maxUdp = Math.max(CLASSIC_UDP_SIZE, Math.min(max, MAX_MESSAGE));
    this.#logger = options.logger;
  }

  /** Whether out-of-zone names are forwarded (RA is set in answers then). */
  get forwarding(): boolean {
    return this.#forwarder !== null && this.#forwarder.upstreams.length > 0;
  }

  /**
   * The response to `query` received over UDP or TCP on `localAddress` from `remoteAddress` (the
   * zone may scope its answer by it). `query` is only read during the call (a forwarded query is
   * copied), so the caller may reuse its buffer.
   */
  respond(
    query: Uint8Array,
    tcp: boolean,
    localAddress: string | null,
    remoteAddress: string | null = null,
  ): Response {
    this.#stats.received++;
    try {
      const out = this.#respond(query, tcp, { localAddress, remoteAddress });
      return out instanceof Promise ? out.catch((err) => this.#failed(err)) : out;
    } catch (err) {
      return this.#failed(err);
    }
  }

  // A bug must cost one answer, never the receive loop.
  #failed(err: unknown): null {
    this.#stats.dropped++;
    this.#logger?.error("dns.internal_error", { error: String(err) });
    return null;
  }

  #respond(query: Uint8Array, tcp: boolean, ctx: QueryContext): Response {
    const stats = this.#stats;
    const res = decodeMessage(query);
    if (!res.ok) {
      stats.malformed++;
      if (this.#logger?.enabled("debug")) {
        this.#logger.debug("dns.malformed", { error: res.error, bytes: query.length });
      }
      if (res.header === null || res.header.qr) {
        stats.dropped++;
        return null;
      }
      const m = this.#reply(res.header.id, res.header.opcode, res.header.rd, Rcode.FORMERR);
      return this.#encode(m, tcp, tcp ? MAX_MESSAGE : CLASSIC_UDP_SIZE);
    }
    const msg = res.message;
    if (msg.qr) {
      stats.dropped++;
      return null;
    }
    const limit = tcp
      ? MAX_MESSAGE
      : msg.edns === null
      ? CLASSIC_UDP_SIZE
      : Math.max(CLASSIC_UDP_SIZE, Math.min(msg.edns.udpSize, this.#maxUdp));
    const reply = this.#reply(msg.id, msg.opcode, msg.rd, Rcode.NOERROR);
    reply.cd = msg.cd;
    if (msg.edns !== null) reply.edns = this.#edns(msg.edns);
    if (msg.opcode !== OPCODE_QUERY) {
      // Echoing many questions might not fit the limit; one always does.
      if (msg.questions.length === 1) reply.questions = msg.questions;
      reply.rcode = Rcode.NOTIMP;
      return this.#encode(reply, tcp, limit);
    }
    if (msg.questions.length !== 1) {
      reply.rcode = Rcode.FORMERR;
      return this.#encode(reply, tcp, limit);
    }
    const q = msg.questions[0];
    reply.questions = msg.questions;
    stats.queries++;
    if (msg.edns !== null && msg.edns.version !== 0) {
      reply.rcode = Rcode.BADVERS;
      return this.#encode(reply, tcp, limit);
    }
    let answer;
    try {
      answer = this.#zone.answer(q, ctx);
    } catch (err) {
      this.#logger?.warn("dns.zone_error", { error: String(err), name: q.name });
      reply.rcode = Rcode.SERVFAIL;
      return this.#encode(reply, tcp, limit);
    }
    if (answer === null) {
      const routed = this.#routes.length
        ? dnsRouteFor(this.#routes, `${canonicalName(q.name)}.`)
        : null;
      if (routed || this.forwarding) {
        // Upstreams answer as this host: only queriers it forwards for may reach them.
        if (this.#forwardFor === null || this.#forwardFor(ctx.remoteAddress ?? null)) {
          return this.#forward(query, msg, q, tcp, limit, routed?.forwarder ?? this.#forwarder!);
        }
        stats.forwardRefused++;
      }
      reply.rcode = Rcode.REFUSED;
      return this.#encode(reply, tcp, limit);
    }
    reply.rcode = answer.rcode;
    reply.aa = answer.authoritative;
    reply.answers = answer.answers;
    reply.authority = answer.authority;
    reply.additional = answer.additional;
    try {
      return this.#encode(reply, tcp, limit);
    } catch (err) {
      // Only names or data this program built can fail to encode; say so rather than crash.
      this.#logger?.warn("dns.encode_error", { error: String(err), name: q.name });
      reply.answers = reply.authority = reply.additional = [];
      reply.aa = false;
      reply.rcode = Rcode.SERVFAIL;
      return this.#encode(reply, tcp, limit);
    }
  }

  #reply(id: number, opcode: number, rd: boolean, rcode: number): DnsMessage {
    return {
      id,
      qr: true,
      opcode,
      aa: false,
      tc: false,
      rd,
      ra: this.forwarding,
      ad: false,
      cd: false,
      rcode,
      questions: [],
      answers: [],
      authority: [],
      additional: [],
      edns: null,
    };
  }

  #edns(theirs: Edns): Edns {
    // DO is echoed as RFC 3225 asks, even though nothing here is signed.
    return { udpSize: this.#maxUdp, version: 0, dnssecOk: theirs.dnssecOk, options: [] };
  }

  #encode(m: DnsMessage, tcp: boolean, limit: number): Uint8Array {
    const w = this.#writer;
    const info = encodeInto(w, m, limit);
    if (info.truncated) this.#stats.truncated++;
    countAnswer(this.#stats, m.questions.length === 1 ? m.questions[0].type : null, m.rcode);
    if (!tcp) return w.buf.slice(2, 2 + info.length);
    w.buf[0] = info.length >> 8;
    w.buf[1] = info.length;
    return w.buf.slice(0, 2 + info.length);
  }

  async #forward(
    query: Uint8Array,
    msg: DnsMessage,
    q: DnsQuestion,
    tcp: boolean,
    limit: number,
    forwarder: Forwarder,
  ): Promise<Uint8Array | null> {
    const stats = this.#stats;
    stats.forwarded++;
    const e = msg.edns;
    const variant = `${msg.rd ? "r" : ""}${msg.cd ? "c" : ""}${e ? (e.dnssecOk ? "d" : "e") : ""}`;
    const result = await forwarder.forward(query, variant);
    const reply = this.#reply(msg.id, msg.opcode, msg.rd, Rcode.SERVFAIL);
    reply.questions = [q];
    if (msg.edns !== null) reply.edns = this.#edns(msg.edns);
    if (!result.ok) {
      stats.forwardFailed++;
      if (this.#logger?.enabled("debug")) {
        this.#logger.debug("dns.forward_failed", { reason: result.reason, name: q.name });
      }
      return this.#encode(reply, tcp, limit);
    }
    const answer = result.answer;
    if (answer.length > limit) {
      // Too big for the client's UDP limit: say so with TC, and the client asks over TCP.
      reply.rcode = answer[3] & 0x0f;
      reply.tc = true;
      stats.truncated++;
      return this.#encode(reply, tcp, limit);
    }
    countAnswer(stats, q.type, answer[3] & 0x0f);
    const out = new Uint8Array(answer.length + (tcp ? 2 : 0));
    const at = tcp ? 2 : 0;
    out.set(answer, at);
    out[at] = msg.id >> 8;
    out[at + 1] = msg.id;
    if (tcp) {
      out[0] = answer.length >> 8;
      out[1] = answer.length;
    }
    return out;
  }
}
