/**
 * The service layer's socket: messages to and from other members' overlay addresses on
 * {@link SERVICES_PORT}, through the agent's control stack (so inside the WireGuard tunnels, in
 * TUN and userspace mode alike: WireGuard authenticates every packet and the source overlay
 * address says which member sent it). Messages are encoded (wire.ts) and cut into datagrams
 * (fragments.ts); what comes in is put back together and decoded, and anything malformed is a
 * counted drop, never an exception out of the stack's callback.
 *
 * Fragments of a large message are sent in bursts, one burst per macrotask, so a 1 MiB answer
 * does not fill the stack's queue at once; a lost fragment loses the message, which the
 * request's timeout and retry (or the event's resend) then cover.
 *
 * A message of at least `compressMinBytes` goes deflated (compression.ts) to a peer that said it
 * takes that (a `hello`, asked once and remembered: peer_features.ts), when deflating makes it
 * smaller; to a peer that does not answer hellos (an older node) it goes plain. The size limit is
 * the message's own, before deflating and after inflating; inflating stops at it.
 * @module
 */

import type { Logger } from "../log/logger.ts";
import { LogBudget } from "../log/budget.ts";
import { ReasonCounter } from "../metrics/reasons.ts";
import { SERVICES_PORT } from "../members/ports.ts";
import { ServiceError } from "./errors.ts";
import {
  DEFAULT_MAX_MESSAGE,
  type FragmentDrop,
  MAX_DATAGRAM,
  Reassembler,
  type ReassemblyLimits,
  splitMessage,
} from "./fragments.ts";
import { decodeMessage, encodeMessage, type HelloMessage, type ServiceMessage } from "./wire.ts";
import {
  compressMessage,
  decompressMessage,
  DEFAULT_COMPRESS_MIN_BYTES,
  isCompressed,
} from "./compression.ts";
import type { ServiceWireFigures } from "./metrics.ts";
import { FEATURE_COMPRESSION, OWN_FEATURES, PeerFeatures } from "./peer_features.ts";
import { unrefTimer } from "../io/timers.ts";

/** What the socket needs of a stack (the agent's `UserspaceStack` is one). */
export interface DatagramStack {
  /** Binds `port` and calls `onDatagram` for each datagram to it. */
  listen(
    port: number,
    onDatagram: (data: Uint8Array, from: { address: string; port: number }) => void,
  ): { close(): void };
  /** Sends one datagram from `fromPort`; throws when it cannot. */
  send(to: { address: string; port: number }, data: Uint8Array, fromPort?: number): void;
}

/** Why the socket itself dropped something (reassembly's reasons aside). */
const OWN_DROPS = [
  /** Reassembled, but not a well-formed message. */
  "undecodable",
  /** A datagram the stack would not send. */
  "send-failed",
  /** The message handler threw. */
  "handler-error",
  /** A compressed message that inflates past the size limit (or past what it declared). */
  "inflate-too-large",
  /** A compressed message that does not inflate. */
  "inflate-failed",
] as const;

/** Why the socket dropped something: reassembly's reasons, and its own. */
export type SocketDrop = FragmentDrop | typeof OWN_DROPS[number];

/** The messages the socket hands on: all but the hellos, which it answers itself. */
export type DeliveredMessage = Exclude<ServiceMessage, HelloMessage>;

/** The bounds of a {@link ServiceSocket}. */
export interface ServiceSocketOptions {
  /** The largest message sent or received, bytes (before deflating). Default 16 MiB. */
  maxMessageBytes?: number;
  /**
   * Messages of at least this many bytes are deflated for peers that take it. Default 8 KiB;
   * `Infinity` sends everything plain.
   */
  compressMinBytes?: number;
  /** How long a peer has to answer the hello asking what it takes, ms. Default 1000. */
  helloAnswerMs?: number;
  /** The largest datagram sent, bytes. Default 1200. */
  maxDatagram?: number;
  /** Reassembly bounds besides the message size. */
  reassembly?: Omit<ReassemblyLimits, "maxMessageBytes">;
  /** The port; default {@link SERVICES_PORT}. */
  port?: number;
  /** Where unexpected failures are told (rate-limited). */
  logger?: Logger;
  /**
   * Who sent from an address, for the reassembly budget: the mesh gives the member's key, so a
   * member's IPv4 and IPv6 addresses share one fair share. Default: the address itself.
   */
  senderOf?: (address: string) => string;
}

/** Fragments sent per macrotask. */
const BURST = 64;

/** Sends and receives service messages; see the module docs. */
export class ServiceSocket {
  /** The largest message, bytes. */
  readonly maxMessageBytes: number;
  /**
   * Messages sent and received, and bytes of their datagrams; of those, the messages that went
   * deflated, their bytes before deflating (`...Plain`) and after (`...Deflated`).
   */
  readonly counts = {
    sent: 0,
    received: 0,
    sentBytes: 0,
    receivedBytes: 0,
    compressedSent: 0,
    compressedReceived: 0,
    compressedSentPlain: 0,
    compressedSentDeflated: 0,
    compressedReceivedPlain: 0,
    compressedReceivedDeflated: 0,
  };
  /** What each peer takes (compression), as it said. */
  readonly peers: PeerFeatures;
  readonly #compressMin: number;
  readonly #stack: DatagramStack;
  readonly #port: number;
  readonly #maxDatagram: number;
  readonly #reassembler: Reassembler;
  readonly #own = new ReasonCounter(OWN_DROPS);
  readonly #logger: Logger | undefined;
  readonly #logBudget = new LogBudget();
  readonly #handler: (msg: DeliveredMessage, from: string) => void;
  readonly #senderOf: (address: string) => string;
  readonly #bound: { close(): void };
  readonly #sweeper: ReturnType<typeof setInterval>;
  #nextId = crypto.getRandomValues(new Uint32Array(1))[0];
  #closed = false;

  /** Binds the port on `stack`; `handler` gets every well-formed message and its sender. */
  constructor(
    stack: DatagramStack,
    handler: (msg: DeliveredMessage, from: string) => void,
    opts: ServiceSocketOptions = {},
  ) {
    this.#stack = stack;
    this.#handler = handler;
    this.maxMessageBytes = opts.maxMessageBytes ?? DEFAULT_MAX_MESSAGE;
    this.#compressMin = opts.compressMinBytes ?? DEFAULT_COMPRESS_MIN_BYTES;
    this.peers = new PeerFeatures({
      ask: (address, id) =>
        this.#sendNow(address, encodeMessage({ kind: "hello", id, flags: OWN_FEATURES })),
      answerMs: opts.helloAnswerMs,
    });
    this.#maxDatagram = opts.maxDatagram ?? MAX_DATAGRAM;
    this.#port = opts.port ?? SERVICES_PORT;
    this.#logger = opts.logger;
    this.#senderOf = opts.senderOf ?? ((a) => a);
    const limits = opts.reassembly ?? {};
    this.#reassembler = new Reassembler({ ...limits, maxMessageBytes: this.maxMessageBytes });
    this.#bound = stack.listen(this.#port, (data, from) => this.#receive(data, from.address));
    const every = Math.max(100, (limits.timeoutMs ?? 5000) / 2);
    this.#sweeper = setInterval(() => this.#reassembler.sweep(), every);
    unrefTimer(this.#sweeper);
  }

  /** Drops by reason (reassembly's and the socket's own). */
  drops(): Record<SocketDrop, number> {
    return { ...this.#reassembler.drops.snapshot(), ...this.#own.snapshot() };
  }

  /** The bytes on the wire and what compression did, for `/metrics`. */
  wire(): ServiceWireFigures {
    const c = this.counts;
    return {
      sentBytes: c.sentBytes,
      receivedBytes: c.receivedBytes,
      compressedSent: {
        messages: c.compressedSent,
        plainBytes: c.compressedSentPlain,
        deflatedBytes: c.compressedSentDeflated,
      },
      compressedReceived: {
        messages: c.compressedReceived,
        plainBytes: c.compressedReceivedPlain,
        deflatedBytes: c.compressedReceivedDeflated,
      },
    };
  }

  /** Bytes held by reassemblies under way. */
  get heldBytes(): number {
    return this.#reassembler.heldBytes;
  }

  /**
   * Encodes `msg` and sends it to `address`'s service port. Throws a {@link ServiceError}
   * `too-large` when it is over the maximum size (and an Error when a payload cannot be
   * encoded: callers check payloads first); a datagram the stack refuses is a counted drop.
   */
  send(address: string, msg: ServiceMessage): void {
    const bytes = encodeMessage(msg);
    this.sendEncoded(address, bytes);
  }

  /** Sends an encoded message (see {@link send}); lets a caller encode once for many. */
  sendEncoded(address: string, bytes: Uint8Array): void {
    if (this.#closed) return;
    if (bytes.length > this.maxMessageBytes) {
      throw new ServiceError(
        "too-large",
        `the message is ${bytes.length} bytes, over the limit of ${this.maxMessageBytes}`,
      );
    }
    if (bytes.length < this.#compressMin) {
      this.#sendNow(address, bytes);
      return;
    }
    this.#sendLarge(address, bytes).catch((e) => {
      this.#own.add("send-failed");
      this.#log("service message not sent", { to: address, error: String(e) });
    });
  }

  async #sendLarge(address: string, bytes: Uint8Array): Promise<void> {
    const flags = await this.peers.flags(address);
    const deflated = flags & FEATURE_COMPRESSION ? await compressMessage(bytes) : null;
    if (deflated === null) {
      this.#sendNow(address, bytes);
      return;
    }
    this.counts.compressedSent++;
    this.counts.compressedSentPlain += bytes.length;
    this.counts.compressedSentDeflated += deflated.length;
    this.#sendNow(address, deflated);
  }

  #sendNow(address: string, bytes: Uint8Array): void {
    if (this.#closed) return;
    const id = this.#nextId;
    this.#nextId = (id + 1) >>> 0;
    const datagrams = splitMessage(bytes, id, this.#maxDatagram);
    this.counts.sent++;
    this.#burst(address, datagrams, 0);
  }

  #burst(address: string, datagrams: Uint8Array[], from: number): void {
    if (this.#closed) return;
    const end = Math.min(datagrams.length, from + BURST);
    const to = { address, port: this.#port };
    for (let i = from; i < end; i++) {
      try {
        this.#stack.send(to, datagrams[i], this.#port);
        this.counts.sentBytes += datagrams[i].length;
      } catch (e) {
        this.#own.add("send-failed");
        this.#log("service datagram not sent", { to: address, error: String(e) });
        return;
      }
    }
    if (end < datagrams.length) setTimeout(() => this.#burst(address, datagrams, end), 0);
  }

  #receive(data: Uint8Array, from: string): void {
    if (this.#closed) return;
    this.counts.receivedBytes += data.length;
    const bytes = this.#reassembler.add(data, this.#senderOf(from));
    if (bytes === null) return;
    if (isCompressed(bytes)) {
      this.#inflate(bytes, from);
      return;
    }
    this.#take(bytes, from);
  }

  async #inflate(deflated: Uint8Array, from: string): Promise<void> {
    const bytes = await decompressMessage(deflated, this.maxMessageBytes);
    if (this.#closed) return;
    if (typeof bytes === "string") {
      this.#own.add(bytes === "too-large" ? "inflate-too-large" : "inflate-failed");
      return;
    }
    this.counts.compressedReceived++;
    this.counts.compressedReceivedDeflated += deflated.length;
    this.counts.compressedReceivedPlain += bytes.length;
    this.#take(bytes, from);
  }

  #take(bytes: Uint8Array, from: string): void {
    const msg = decodeMessage(bytes);
    if (msg === null) {
      this.#own.add("undecodable");
      return;
    }
    this.counts.received++;
    if (msg.kind === "hello" || msg.kind === "hello-ack") {
      this.peers.heard(from, msg.flags);
      if (msg.kind === "hello") {
        this.#sendNow(from, encodeMessage({ kind: "hello-ack", id: msg.id, flags: OWN_FEATURES }));
      }
      return;
    }
    try {
      this.#handler(msg, from);
    } catch (e) {
      this.#own.add("handler-error");
      this.#log("service message handler failed", { from, kind: msg.kind, error: String(e) });
    }
  }

  #log(event: string, fields: Record<string, unknown>): void {
    const skipped = this.#logBudget.take();
    if (skipped === null) return;
    this.#logger?.warn(event, skipped ? { ...fields, skipped } : fields);
  }

  /** Unbinds the port and forgets reassemblies; idempotent. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    clearInterval(this.#sweeper);
    this.peers.clear();
    this.#bound.close();
    this.#reassembler.clear();
  }
}
