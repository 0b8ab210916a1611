/**
 * LAN discovery on the wire: a UDP socket in multicast group 239.255.82.21 port 51822 (an
 * organization-local scope group, RFC 2365) that sends this node's announcement every so often
 * and on demand, and reports the members whose announcements verify, with the LAN address they
 * came from. The codec and the checks are in announce_codec.ts, re-exported here.
 *
 * TTL 1 keeps announcements on the link; loopback is off so a node does not hear itself. A host
 * with no multicast route (a container, a laptop offline) must still run: failures to join or to
 * send are counted and logged once each, never thrown.
 * @module
 */

import dgram from "node:dgram";
import { encodeBase64 } from "../crypto/base64.ts";
import { every } from "../io/cancelable.ts";
import { type Logger, nullLogger } from "../log/logger.ts";
import { AnnounceFilter, encodeAnnouncement } from "./announce_codec.ts";
import type { AnnounceDropReason } from "./announce_codec.ts";

export * from "./announce_codec.ts";

/** The multicast group of LAN announcements. */
export const LAN_GROUP = "239.255.82.21";
/** The UDP port of LAN announcements. */
export const LAN_PORT = 51822;
/** How often a node announces itself, by default. */
export const ANNOUNCE_INTERVAL_MS = 30_000;

/** The part of a node:dgram socket the announcer uses (a fake one in tests). */
export interface AnnounceSocket {
  /** Binds; calls back once bound (a failure is an "error" event). */
  bind(port: number, address: string, cb: () => void): void;
  /** The bound address. */
  address(): { port: number };
  /** Joins a multicast group (on one interface); throws when it cannot. */
  addMembership(group: string, iface?: string): void;
  /** Sets the multicast TTL. */
  setMulticastTTL(ttl: number): void;
  /** Sets whether our own multicasts come back to us. */
  setMulticastLoopback(on: boolean): void;
  /** Sets the interface multicasts leave by. */
  setMulticastInterface(iface: string): void;
  /** Sends a datagram; the callback gets the error, if any. */
  send(msg: Uint8Array, port: number, address: string, cb: (err: Error | null) => void): void;
  /** Datagrams and errors. */
  on(
    event: "message",
    fn: (msg: Uint8Array, rinfo: { address: string; port: number }) => void,
  ): unknown;
  /** Socket errors. */
  on(event: "error", fn: (err: Error) => void): unknown;
  /** Closes the socket. */
  close(cb?: () => void): void;
}

/** A member found on the LAN. */
export interface LanPeer {
  /** Its static public key, base64. */
  publicKey: string;
  /** The LAN address its announcement came from. */
  address: string;
  /** Its WireGuard port (from the announcement). */
  port: number;
}

/** Options of {@link LanAnnouncer.start}. */
export interface LanAnnouncerOptions {
  /** This node's static public key. */
  publicKey: Uint8Array;
  /** This node's static private key: it signs the announcements. */
  privateKey: Uint8Array;
  /**
   * Whether an address is on one of this node's links (its interfaces' subnets): announcements
   * from anywhere else are dropped (`off-link`). Default: every address is.
   */
  onLink?: (address: string) => boolean;
  /** This node's WireGuard UDP port, the one announced. */
  listenPort: number;
  /** The mesh's 32-byte LAN key. */
  lanKey: Uint8Array;
  /** Called for every announcement that verifies (a member may be reported again and again). */
  onPeer: (peer: LanPeer) => void;
  /** Between announcements; default 30 s. */
  intervalMs?: number;
  /** The group; default 239.255.82.21. */
  group?: string;
  /** The port; default 51822 (0 for any, in tests). */
  port?: number;
  /** The address bound; default 0.0.0.0. */
  bindAddress?: string;
  /** The interface address to join and send on; default the system's choice. */
  multicastInterface?: string;
  /** Hear our own multicasts (tests only: two announcers in one process). */
  multicastLoopback?: boolean;
  /** Logs the first failure of each kind. */
  logger?: Logger;
  /** Unix time in milliseconds; default `Date.now`. */
  now?: () => number;
  /** Runs `fn` every `ms`; returns a cancel function. Default an unref'd `setInterval`. */
  every?: (fn: () => void, ms: number) => () => void;
  /** Makes the socket; default node:dgram, IPv4, with address reuse. */
  createSocket?: () => AnnounceSocket;
}

/** Counters of a {@link LanAnnouncer}. */
export interface LanAnnouncerStats {
  /** Announcements sent. */
  sent: number;
  /** Datagrams received. */
  received: number;
  /** Announcements that verified and were reported. */
  accepted: number;
  /** Sends that failed (no multicast route...). */
  sendErrors: number;
  /** Multicast options or group joins that failed. */
  joinErrors: number;
  /** Errors reported by the socket after it was bound. */
  socketErrors: number;
  /** Exceptions thrown by `onPeer`. */
  listenerErrors: number;
  /** Datagrams from an address on none of this node's links. */
  offLink: number;
}

function defaultSocket(): AnnounceSocket {
  return dgram.createSocket({ type: "udp4", reuseAddr: true }) as unknown as AnnounceSocket;
}

/** Sends this node's LAN announcements and reports other members' verified ones. */
export class LanAnnouncer {
  /** What happened so far. */
  readonly stats: LanAnnouncerStats = {
    sent: 0,
    received: 0,
    accepted: 0,
    sendErrors: 0,
    joinErrors: 0,
    socketErrors: 0,
    listenerErrors: 0,
    offLink: 0,
  };

  readonly #socket: AnnounceSocket;
  readonly #filter: AnnounceFilter;
  readonly #publicKey: Uint8Array;
  readonly #privateKey: Uint8Array;
  readonly #onLink: (address: string) => boolean;
  readonly #group: string;
  readonly #port: number;
  readonly #log: Logger;
  readonly #now: () => number;
  readonly #onPeer: (peer: LanPeer) => void;
  #lanKey: Uint8Array;
  #listenPort: number;
  #cancel: () => void = () => {};
  #logged = new Set<string>();
  #closed: Promise<void> | null = null;

  private constructor(opts: LanAnnouncerOptions, socket: AnnounceSocket, port: number) {
    this.#socket = socket;
    this.#publicKey = opts.publicKey.slice();
    this.#privateKey = opts.privateKey.slice();
    this.#onLink = opts.onLink ?? (() => true);
    this.#lanKey = opts.lanKey.slice();
    this.#listenPort = opts.listenPort;
    this.#group = opts.group ?? LAN_GROUP;
    this.#port = port;
    this.#log = opts.logger ?? nullLogger;
    this.#now = opts.now ?? Date.now;
    this.#onPeer = opts.onPeer;
    this.#filter = new AnnounceFilter({
      lanKey: opts.lanKey,
      selfKey: opts.publicKey,
      now: this.#now,
    });
  }

  /**
   * Binds the socket, joins the group (a failure is counted and logged, not thrown), sends a
   * first announcement and starts the periodic ones. Rejects only when the socket cannot bind.
   */
  static async start(opts: LanAnnouncerOptions): Promise<LanAnnouncer> {
    // Checked here, so a bad key or port fails at start rather than at the first send.
    encodeAnnouncement(
      { publicKey: opts.publicKey, port: opts.listenPort, timeMs: 0 },
      opts.lanKey,
      opts.privateKey,
    );
    const socket = (opts.createSocket ?? defaultSocket)();
    let self: LanAnnouncer | null = null;
    const bound = new Promise<void>((resolve, reject) => {
      socket.on("error", (err) => {
        if (self === null) reject(err);
        else self.#socketError(err);
      });
      socket.bind(opts.port ?? LAN_PORT, opts.bindAddress ?? "0.0.0.0", () => resolve());
    });
    try {
      await bound;
    } catch (err) {
      socket.close();
      throw err;
    }
    self = new LanAnnouncer(opts, socket, socket.address().port);
    socket.on("message", (msg, rinfo) => self!.#receive(msg, rinfo));
    self.#setUp(opts);
    self.announce();
    self.#cancel = (opts.every ?? ((fn, ms) => every(fn, ms, { unref: true })))(
      () => self!.announce(),
      opts.intervalMs ?? ANNOUNCE_INTERVAL_MS,
    );
    return self;
  }

  /** The UDP port bound (the group's port). */
  get port(): number {
    return this.#port;
  }

  /** Announcements refused, by reason. */
  get drops(): Readonly<Record<AnnounceDropReason, number>> {
    return this.#filter.drops;
  }

  /** Sends an announcement now (at start, when the interfaces changed...). */
  announce(): void {
    if (this.#closed !== null) return;
    const msg = encodeAnnouncement(
      {
        publicKey: this.#publicKey,
        port: this.#listenPort,
        timeMs: Math.floor(this.#now()),
      },
      this.#lanKey,
      this.#privateKey,
    );
    try {
      this.#socket.send(msg, this.#port, this.#group, (err) => {
        if (err) this.#fail("send", err);
        else this.stats.sent++;
      });
    } catch (err) {
      this.#fail("send", err);
    }
  }

  /** Replaces the LAN key, for sending and checking (the leader rotated it). */
  setKey(lanKey: Uint8Array): void {
    this.#filter.setKey(lanKey);
    this.#lanKey = lanKey.slice();
  }

  /** Sets the WireGuard port announced (after a rebind). */
  setListenPort(port: number): void {
    encodeAnnouncement(
      { publicKey: this.#publicKey, port, timeMs: 0 },
      this.#lanKey,
      this.#privateKey,
    );
    this.#listenPort = port;
  }

  /** Stops announcing and closes the socket; idempotent. */
  close(): Promise<void> {
    this.#closed ??= new Promise<void>((resolve) => {
      this.#cancel();
      try {
        this.#socket.close(() => resolve());
      } catch {
        resolve();
      }
    });
    return this.#closed;
  }

  #setUp(opts: LanAnnouncerOptions): void {
    const s = this.#socket;
    const steps: [string, () => void][] = [
      ["ttl", () => s.setMulticastTTL(1)],
      ["loopback", () => s.setMulticastLoopback(opts.multicastLoopback ?? false)],
    ];
    if (opts.multicastInterface !== undefined) {
      steps.push(["interface", () => s.setMulticastInterface(opts.multicastInterface!)]);
    }
    steps.push(["join", () => s.addMembership(this.#group, opts.multicastInterface)]);
    for (const [what, step] of steps) {
      try {
        step();
      } catch (err) {
        this.#fail("join", err, what);
      }
    }
  }

  #receive(msg: Uint8Array, rinfo: { address: string; port: number }): void {
    this.stats.received++;
    // Multicast with TTL 1 stays on the link: what comes from elsewhere was sent there on purpose
    // (a captured announcement replayed to another LAN).
    if (!this.#onLink(rinfo.address)) {
      this.stats.offLink++;
      return;
    }
    const a = this.#filter.accept(msg, rinfo.address);
    if ("drop" in a) return;
    this.stats.accepted++;
    try {
      this.#onPeer({ publicKey: encodeBase64(a.publicKey), address: rinfo.address, port: a.port });
    } catch (err) {
      this.stats.listenerErrors++;
      this.#once("listener", "lan discovery: a peer listener threw", err);
    }
  }

  #socketError(err: Error): void {
    this.stats.socketErrors++;
    this.#once("socket", "lan discovery: socket error", err);
  }

  #fail(kind: "send" | "join", err: unknown, step?: string): void {
    if (kind === "send") this.stats.sendErrors++;
    else this.stats.joinErrors++;
    this.#once(
      kind,
      kind === "send"
        ? "lan discovery: cannot send announcements (no multicast route?)"
        : "lan discovery: cannot join the multicast group (no multicast interface?)",
      err,
      step,
    );
  }

  /** Logs the first event of a kind; the counters tell how many followed. */
  #once(kind: string, event: string, err: unknown, step?: string): void {
    if (this.#logged.has(kind)) return;
    this.#logged.add(kind);
    const error = err instanceof Error ? err.message : String(err);
    this.#log.warn(event, step === undefined ? { error } : { error, step });
  }
}
