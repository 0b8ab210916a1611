/**
 * The agent's underlay: which transport carries its WireGuard messages (the Linux FFI UDP
 * socket or Deno's, a transport handed in, TCP beside either), opened and wrapped (the mesh's
 * relay mux) as the agent's options say. A failure closes whatever was opened before it.
 * @module
 */

import type { Transport } from "../io/driver.ts";
import type { Logger } from "../log/logger.ts";
import { DenoUdpTransport } from "../../drivers/udp_deno.ts";
import { LinuxUdpTransport } from "../../drivers/linux/udp.ts";
import { DualTransport } from "../../drivers/dual.ts";
import type { TcpDialer, TcpOptions } from "../../drivers/tcp.ts";
import type { Poller } from "../../drivers/linux/poller.ts";
import { raiseFileLimit } from "../../drivers/linux/rlimit.ts";
import { closeQuietly } from "./rollback.ts";
import type { ProxySetting } from "../net/proxy.ts";
import { type ProxyConnector, ProxyError } from "../../drivers/proxy_connect.ts";
import { proxyConnector } from "./proxy.ts";

/** Which UDP implementation carries the underlay. */
export type UnderlayKind = "linux" | "deno";

/** The underlay as the agent's options ask for it, checked before anything opens. */
export interface UnderlayPlan {
  /** The UDP implementation. */
  kind: UnderlayKind;
  /** The UDP port; 0 picks a free one. */
  port: number;
  /** The address to bind to; all by default. */
  hostname?: string;
  /** 0 for no TCP, a TCP port, or `same` (the UDP port's number). */
  tcpPort: number | "same";
  /** The underlay socket's firewall mark; 0 for none. */
  fwMark: number;
  /** `wss` on the TCP side: see AgentOptions.webSocketTls. */
  webSocketTls?: { cert: string; key: string; port: number };
  /** See AgentOptions.webSocketCaCerts. */
  webSocketCaCerts?: string[];
  /** The HTTP proxy TCP dials go through; null: none. */
  proxy: ProxySetting | null;
}

/** The agent's options that {@link planUnderlay} reads. */
export interface UnderlayRequest {
  /** See AgentOptions.listenPort. */
  listenPort?: number;
  /** See AgentOptions.listenHost. */
  listenHost?: string;
  /** See AgentOptions.tcpPort. */
  tcpPort?: number | "same";
  /** See AgentOptions.fwMark. */
  fwMark?: number;
  /** See AgentOptions.underlay. */
  underlay?: UnderlayKind;
  /** See AgentOptions.webSocketTls. */
  webSocketTls?: { cert: string; key: string; port: number };
  /** See AgentOptions.webSocketCaCerts. */
  webSocketCaCerts?: string[];
  /** See AgentOptions.transport. */
  transport?: Transport;
  /** See AgentOptions.proxy. */
  proxy?: ProxySetting | null;
}

/** The parts {@link openUnderlay} opens with. */
export interface UnderlayParts {
  /**
   * A transport handed in: the underlay's UDP side instead of a socket. It stays the caller's to
   * close when opening fails (a TCP side that fails closes it too: see DualTransport.open).
   */
  given?: Transport;
  /** The poller a Linux socket shares with the TUN. */
  poller?: Poller;
  /** Gets the drivers' errors. */
  onError: (e: unknown) => void;
  /** Gets each TCP dial the HTTP proxy refused or could not carry (counted there too). */
  onProxyError?: (e: ProxyError) => void;
  /** Wraps each UDP socket opened (the latency trace). */
  wrapUdp?: (udp: Transport) => Transport;
  /** Wraps the whole underlay (AgentOptions.wrapTransport); what it returns closes the rest. */
  wrap?: (transport: Transport) => Transport;
}

/** An opened underlay. */
export interface Underlay {
  /** What the device runs on: the underlay, wrapped when asked; closing it closes all. */
  transport: Transport;
  /** The underlay before wrapping, whose drivers report the figures of /status and /metrics. */
  base: Transport;
  /** The TCP port WireGuard messages are also taken on, or null without TCP. */
  tcpPort: number | null;
  /** What dials the TCP side's connections through the HTTP proxy; null without one. */
  proxy: ProxyConnector | null;
}

/** Checks the underlay options and fills in the defaults; throws naming what is wrong. */
export function planUnderlay(o: UnderlayRequest): UnderlayPlan {
  const kind = o.underlay ?? (Deno.build.os === "linux" ? "linux" : "deno");
  const fwMark = o.fwMark ?? 0;
  if (fwMark !== 0 && (kind !== "linux" || o.transport)) {
    throw new Error("fwmark needs the linux underlay (SO_MARK on its socket)");
  }
  if (o.webSocketTls && (o.tcpPort === undefined || o.tcpPort === 0)) {
    throw new Error("webSocketTls needs tcpPort (WebSockets are served by the TCP transport)");
  }
  return {
    kind,
    port: o.listenPort ?? 51820,
    hostname: o.listenHost,
    tcpPort: checkTcpPort(o.tcpPort),
    fwMark,
    ...(o.webSocketTls ? { webSocketTls: o.webSocketTls } : {}),
    ...(o.webSocketCaCerts ? { webSocketCaCerts: o.webSocketCaCerts } : {}),
    proxy: o.proxy ?? null,
  };
}

/** `tcpPort` checked: 0 for none, a port, or "same". */
function checkTcpPort(v: number | "same" | undefined): number | "same" {
  if (v === undefined || v === "same") return v ?? 0;
  if (!Number.isInteger(v) || v < 0 || v > 65535) {
    throw new Error(`tcpPort must be "same" or a port from 0 to 65535, not ${String(v)}`);
  }
  return v;
}

/**
 * The agent's UDP send queue, in datagrams: room for five whole GSO runs of MTU-sized datagrams
 * (45 each), so the queue filling no longer cuts a TSO read's run short (drivers/linux/udp.ts
 * `sendBatch`: runs of 35 on average against 30); 512 KiB of slots, once per agent.
 */
export const AGENT_SEND_BATCH = 256;

/**
 * Opens the underlay `plan` describes (UDP, or UDP and TCP) and wraps it. When anything here
 * fails, what was opened is closed again.
 */
export async function openUnderlay(plan: UnderlayPlan, parts: UnderlayParts): Promise<Underlay> {
  await using stack = new AsyncDisposableStack();
  const openUdp = async (port: number, hostname: string | undefined): Promise<Transport> => {
    const udp = plan.kind === "linux"
      ? await LinuxUdpTransport.open({
        port,
        hostname,
        poller: parts.poller,
        onError: parts.onError,
        fwMark: plan.fwMark,
        sendBatch: AGENT_SEND_BATCH,
      })
      : await DenoUdpTransport.open({ port, hostname });
    return parts.wrapUdp ? parts.wrapUdp(udp) : udp;
  };
  let base: Transport;
  let tcpPort: number | null = null;
  // Without TCP there is nothing to dial through a proxy.
  const proxy = plan.proxy !== null && plan.tcpPort !== 0 ? proxyConnector(plan.proxy) : null;
  if (plan.tcpPort === 0) {
    base = parts.given ?? await openUdp(plan.port, plan.hostname);
  } else {
    const dual = await openDual(parts.given, openUdp, {
      ...plan,
      onError: parts.onError,
      dial: proxy ? (o) => proxy.dial(o) : undefined,
      onDial: (_to, _outcome, err) => {
        if (err instanceof ProxyError) parts.onProxyError?.(err);
      },
    });
    tcpPort = dual.tcp.port;
    base = dual;
  }
  if (base !== parts.given) stack.defer(closeQuietly(base));
  const transport = parts.wrap ? parts.wrap(base) : base;
  stack.move();
  return { transport, base, tcpPort, proxy };
}

let fileLimitRaised = false;

/**
 * Raises the soft file descriptor limit once per process, with the FFI the linux underlay loads
 * anyway: a soft limit of 1,024 descriptors would otherwise be reached by a flood of idle
 * connections long before the hard one.
 */
export function raiseFileLimitOnce(logger: Logger): void {
  if (fileLimitRaised) return;
  fileLimitRaised = true;
  try {
    const l = raiseFileLimit();
    logger.debug("file descriptor limit", {
      soft: String(l.soft),
      hard: String(l.hard),
      before: String(l.before),
    });
  } catch (e) {
    logger.debug("file descriptor limit not raised", { error: String(e) });
  }
}

/**
 * UDP (opened, or the transport given) and TCP as one transport. A TCP port that cannot be had
 * is an error naming it: an agent asked for TCP does not quietly run without it.
 */
async function openDual(
  given: Transport | undefined,
  openUdp: (port: number, hostname: string | undefined) => Promise<Transport>,
  o: {
    port: number;
    hostname?: string;
    tcpPort: number | "same";
    onError: (e: unknown) => void;
    webSocketTls?: { cert: string; key: string; port: number };
    webSocketCaCerts?: string[];
    dial?: TcpDialer;
    onDial?: TcpOptions["onDial"];
  },
): Promise<DualTransport> {
  let handed = false;
  let udpFailed = false;
  const udp = async (port: number, hostname: string | undefined): Promise<Transport> => {
    try {
      if (!given) return await openUdp(port, hostname);
      // A given transport is handed over once: its port is fixed, so there is no second try.
      if (handed) throw new Error("the given transport is already in use");
      handed = true;
      return given;
    } catch (e) {
      udpFailed = true;
      throw e;
    }
  };
  const fixed = o.tcpPort === "same" ? (given ? given.port : o.port || undefined) : o.tcpPort;
  try {
    return await DualTransport.open({
      port: given ? given.port : o.port,
      hostname: o.hostname,
      tcpPort: fixed,
      openUdp: udp,
      tcp: {
        onError: o.onError,
        ...(o.webSocketTls ? { tls: o.webSocketTls } : {}),
        ...(o.webSocketCaCerts ? { caCerts: o.webSocketCaCerts } : {}),
        ...(o.dial ? { dial: o.dial, onDial: o.onDial } : {}),
      },
    });
  } catch (e) {
    // The UDP side's own error names its port already.
    if (udpFailed) throw e;
    const which = fixed === undefined ? "a port free for both UDP and TCP" : `TCP port ${fixed}`;
    throw new Error(`cannot listen on ${which}: ${e instanceof Error ? e.message : String(e)}`, {
      cause: e,
    });
  }
}
