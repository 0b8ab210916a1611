/**
 * The joiner's side of the join exchange (`weft join v2`) as an agent makes it: the exchange
 * (exchange.ts) over a UDP socket on the node's listen port and, where UDP goes unanswered (a
 * network that lets only TCP out), over TCP to each of the leader's endpoints, dialled from an
 * ephemeral port so the node's own TCP port stays free for its agent.
 * @module
 */

import type { UnderlayKind } from "../../agent/agent.ts";
import type { AgentConfig } from "../../config/agent_config.ts";
import type { BackendName } from "../../crypto/types.ts";
import { selectSuite } from "../../crypto/select.ts";
import type { Transport } from "../../io/driver.ts";
import type { Logger } from "../../log/logger.ts";
import { DenoUdpTransport } from "../../../drivers/udp_deno.ts";
import { LinuxUdpTransport } from "../../../drivers/linux/udp.ts";
import { DualTransport } from "../../../drivers/dual.ts";
import { TcpTransport } from "../../../drivers/tcp.ts";
import { ProxyError } from "../../../drivers/proxy_connect.ts";
import { UpgradeRefused } from "../../../drivers/tcp_ws.ts";
import type { ProxySetting } from "../../net/proxy.ts";
import { proxyConnector } from "../../agent/proxy.ts";
import {
  type CheckedToken,
  type JoinAnswer,
  type JoinExchangeOptions,
  joinOver,
  newJoinReceiver,
  type ProxyRefusal,
} from "./exchange.ts";

export {
  type CheckedLeader,
  type CheckedToken,
  checkJoinToken,
  describeUnanswered,
  type EndpointSeen,
  type JoinAnswer,
  JoinError,
  JoinUnavailableError,
  leaderTcpEndpoints,
  type ProxyRefusal,
} from "./exchange.ts";

/**
 * The join's section of a mesh agent's resolved options (lib/mesh/resolve.ts): what the request
 * says of this node, and how it goes out.
 */
export interface JoinSection extends Omit<JoinExchangeOptions, "suite"> {
  /** The token, when this start may join. */
  token?: string;
  /** The join may go over TCP where UDP goes unanswered (the node has TCP). */
  dialTcp: boolean;
  /** The HTTP proxy TCP dials go through; null or absent: none. */
  proxy?: ProxySetting | null;
  /** The UDP port the join is sent from (its agent's). */
  listenPort: number;
  /** The UDP implementation. */
  underlay: UnderlayKind;
  /** Opens the underlay transport (simulations); default UDP of `underlay`. */
  openTransport?: (port: number) => Promise<Transport>;
  /** A crypto backend forced. */
  crypto?: BackendName;
}

/** The join section of a mesh agent's options. */
export interface JoinClientOptions {
  /** The join token (a fresh node only). */
  token?: string;
  /** How long a join may take before giving up, ms. Default 15000. */
  joinTimeoutMs?: number;
}

/** The join section of a parsed configuration. */
export function joinFromConfig(config: AgentConfig): JoinClientOptions {
  return { token: config.join, joinTimeoutMs: config.joinTimeout };
}

async function openTransport(kind: UnderlayKind, port: number): Promise<Transport> {
  return kind === "linux"
    ? await LinuxUdpTransport.open({ port })
    : await DenoUdpTransport.open({ port });
}

/**
 * Runs the join exchange from the listen port (and over TCP when UDP goes unanswered, unless
 * this node's TCP is off), asking the token's leaders in turn; resolves with the first answer.
 * A refusal of the joiner's input (the leader says `usage`) is a {@link JoinError}; any other
 * refusal, and one of every leader's store, a {@link JoinUnavailableError}; no answer (in time,
 * or every endpoint refusing the connection) an Error saying what was seen of each leader's
 * endpoints ({@link describeUnanswered}; exit code 1, as the leader may be started or the token
 * fixed). `previousName`: the name this node had (a removed node joining again), asked for
 * instead of its hostname; `run`: this run's id, for the record the join makes; `beforeSend`:
 * awaited once the join's sockets are open, before the first request goes (which names the key:
 * the caller saves it there).
 */
export async function requestJoin(
  opts: JoinSection,
  checked: CheckedToken,
  privateKey: string,
  logger: Logger,
  previousName?: string,
  run?: string,
  beforeSend?: () => Promise<void>,
): Promise<JoinAnswer> {
  const port = opts.listenPort;
  // The leader being asked takes what the join's transports see while it is.
  const receiver = newJoinReceiver();
  const udp = opts.openTransport
    ? await opts.openTransport(port)
    : await openTransport(opts.underlay, port);
  // Only dials: the node's own TCP port must be free for its agent once the join is over.
  const proxy = opts.dialTcp && opts.proxy ? proxyConnector(opts.proxy) : null;
  const tcp = !opts.dialTcp ? null : await TcpTransport.open({
    port: 0,
    listen: false,
    // Below the resend interval: a dial that failed is tried again at the next resend.
    redialDelayMs: 500,
    onError: (e) => logger.debug("join over tcp", { error: String(e) }),
    onDial: (to, outcome, error) =>
      receiver.dialed?.(
        to,
        outcome,
        proxyRefusal(error),
        error instanceof UpgradeRefused ? error.message : undefined,
      ),
    ...(proxy
      ? { dial: (o: { hostname: string; port: number; signal: AbortSignal }) => proxy.dial(o) }
      : {}),
  }).catch(async (e) => {
    await udp.close();
    throw e;
  });
  const transport: Transport = tcp ? new DualTransport(udp, tcp) : udp;
  const link = { transport, hasTcp: tcp !== null, receiver };
  const exchange = { ...opts, suite: selectSuite(opts.crypto) };
  return await joinOver(exchange, checked, privateKey, logger, link, previousName, run, beforeSend);
}

/**
 * A dial's failure at the HTTP proxy as the exchange sees it: a proxy that cannot be reached or
 * will not open the tunnel refuses as a port does (one that is slow to answer only times out).
 */
function proxyRefusal(error: unknown): ProxyRefusal | undefined {
  if (!(error instanceof ProxyError)) return undefined;
  return { message: error.message, refused: error.reason !== "timeout" };
}
