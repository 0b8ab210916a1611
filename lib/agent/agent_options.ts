/**
 * What an agent is started with ({@link AgentOptions}) and the shapes its API hands out (a
 * ping's outcome, a peer's path, a datagram): apart from the agent itself (agent.ts, which
 * re-exports them) so its options read as one list.
 * @module
 */

import type { ProxySetting } from "../net/proxy.ts";
import type { BackendName } from "../crypto/types.ts";
import type { Device, PacketFilter, PeerConfig } from "../device/device.ts";
import type { HealthOptions } from "../health/health.ts";
import type { Endpoint, PacketDevice, Transport } from "../io/driver.ts";
import type { Logger } from "../log/logger.ts";
import type { Collector } from "../metrics/registry.ts";
import type { ProtocolTimers } from "../protocol/constants.ts";
import type { NodeStatus, PeerStatus } from "../status/status.ts";
import type { UserspaceStack } from "../../drivers/userspace.ts";
import type { UnderlayKind } from "./underlay.ts";

/** How an agent's plaintext side is provided. */
export type AgentMode = "userspace" | "tun";

/** What an agent is started with. */
export interface AgentOptions {
  /**
   * Our private key, base64 (as `wg genkey` prints). Absent: none yet, as wireguard-go starts
   * (set later through the UAPI with `uapiDeviceChanges`); no handshakes happen until then.
   */
  privateKey?: string;
  /**
   * Overlay addresses with prefix length, e.g. `["10.9.0.1/24", "fd00::1/64"]`. May be empty
   * in `tun` mode without `control`: the TUN then has none (others add them, as wg-quick does).
   */
  addresses: string[];
  /** UDP listen port; 0 picks a free one. Default 51820. */
  listenPort?: number;
  /** Address to bind the underlay socket to. Default: all. */
  listenHost?: string;
  /**
   * Also carry WireGuard messages on TCP (drivers/tcp.ts), for networks that let no UDP
   * through: a port number to listen on, or `"same"` for the UDP port's number, whatever UDP got
   * (with `listenPort` 0, a number free for both). Undefined or 0: UDP only, the default, since
   * WireGuard peers speak no TCP. A TCP port that cannot be had fails the start, naming it.
   * With a `transport` given, TCP is added beside it. The TCP socket gets no `fwMark`.
   */
  tcpPort?: number | "same";
  /**
   * Serve WebSockets over TLS too (`wss`, for browsers and HTTPS-only networks), on a port of
   * their own, with this certificate and key (PEM); needs `tcpPort`. Plain WebSockets are served
   * on the TCP port whatever this says.
   */
  webSocketTls?: { cert: string; key: string; port: number };
  /** CA certificates (PEM) that `wss://` endpoints are checked against, instead of the system's. */
  webSocketCaCerts?: string[];
  /**
   * The HTTP proxy the TCP side dials through (CONNECT; lib/net/proxy.ts parses it, with its
   * `NO_PROXY` list). Undefined or null: dial directly.
   */
  proxy?: ProxySetting | null;
  /** The peers. */
  peers?: PeerConfig[];
  /** MTU of the overlay. Default 1420. */
  mtu?: number;
  /** `userspace` (no TUN, no root) or `tun`. Default `userspace`. */
  mode?: AgentMode;
  /** TUN interface name in `tun` mode. Default `weft0`. */
  interfaceName?: string;
  /**
   * Where the peers' allowed IPs are routed in `tun` mode, as wg-quick's `Table`: `auto` (the
   * main table; default), `off` (no routes), or a table number or name.
   */
  table?: string;
  /**
   * The prefixes routed into the TUN in `tun` mode; default every peer's allowed IPs (`weft up`
   * leaves out default routes, which go through policy routing instead).
   */
  routes?: string[];
  /** The firewall mark of the underlay socket (wg's `fwmark`; `linux` underlay only). */
  fwMark?: number;
  /** Force a crypto backend; default the fastest available. */
  crypto?: BackendName;
  /**
   * Worker threads that seal and open transport messages a batch at a time (0: all on the main
   * thread; a number above 0 needs the sodium backend, and workers asked for that cannot start
   * fail the start). Default `auto`: 2 in `tun` mode with libsodium on 4 cores or more, else 0
   * (lib/agent/crypto_workers.ts).
   */
  cryptoWorkers?: number | "auto";
  /**
   * Warm the data path at start (default true): once per process, before the device exists, a
   * throwaway pair of devices on twins of the agent's drivers carries up to 200 ping-sized round
   * trips through the real per-packet code (at most 40 ms of the JS thread's CPU time), so that V8
   * compiles it then rather than in a fresh tunnel's first pings. Only with a TUN and the Linux
   * UDP underlay, alone or wrapped as a mesh member's are (the TUN split for the control stack,
   * UDP beside TCP, the relay mux): twins of other drivers would teach V8 calls the agent never
   * makes. The twins are a TUN driver on a Unix socket pair and a UDP socket on 127.0.0.1 in
   * the same wrappers, and the agent's own device, peers and counters see none of it. `false` skips it (as does `WEFT_WARM_UP=0`):
   * an embedding program that wants the quickest start.
   */
  warmUp?: boolean;
  /**
   * Protocol timer overrides in ms (tests use short ones).
   * @ignore internal: a hook of the layers above the agent (the mesh, tests)
   */
  timers?: Partial<ProtocolTimers>;
  /**
   * Handshakes per second past which cookies are demanded.
   * @ignore internal: a hook of the layers above the agent (the mesh, tests)
   */
  underLoadThreshold?: number;
  /** The logger. Default: info level, text, stderr. */
  logger?: Logger;
  /**
   * A ready transport, instead of opening UDP (tests, other transports).
   * @ignore internal: a hook of the layers above the agent (the mesh, tests)
   */
  transport?: Transport;
  /**
   * Wraps the transport opened (or given) before the device starts on it (the mesh puts it in a
   * relay mux). The agent owns and closes what this returns, which closes what it wraps.
   * @ignore internal: a hook of the layers above the agent (the mesh, tests)
   */
  wrapTransport?: (transport: Transport) => Transport;
  /**
   * A ready packet device, instead of the userspace stack or a TUN.
   * @ignore internal: a hook of the layers above the agent (the mesh, tests)
   */
  packets?: PacketDevice;
  /**
   * The UDP implementation: `linux` (FFI sockets with recvmmsg/sendmmsg, sharing one poll loop
   * with the TUN) or `deno` (`Deno.listenDatagram`, which needs `--unstable-net`). Default:
   * `linux` on Linux, else `deno`.
   */
  underlay?: UnderlayKind;
  /**
   * Serve the WireGuard UAPI (`wg show`/`wg set`) on `<dir>/<interface>.sock`: a directory, or
   * true for `/var/run/wireguard`. Default: on in `tun` mode, off in `userspace` mode.
   */
  uapi?: boolean | string;
  /**
   * Let the UAPI's `set` change the private key, listen port (the `linux` underlay rebinds) and
   * fwmark of the running device, as wireguard-go does (`wg setconf` after start). Default
   * false: a request may restate them, a change is refused (EOPNOTSUPP).
   * @ignore internal: a hook of the layers above the agent (the mesh, tests)
   */
  uapiDeviceChanges?: boolean;
  /**
   * Called once when the TUN interface is deleted under the agent (`ip link delete`, as
   * `wg-quick down` does): its reads fail from then on. The agent keeps running; the owner
   * decides (`weft wireguard` closes it and exits).
   * @ignore internal: a hook of the layers above the agent (the mesh, tests)
   */
  onInterfaceGone?: () => void;
  /**
   * Set aside UDP to this node's overlay address on the control port (51821) and the service
   * port (51823) for an in-process control stack (`agent.control`), as the mesh control plane
   * and service layer need.
   * @ignore internal: a hook of the layers above the agent (the mesh, tests)
   */
  control?: boolean;
  /**
   * Receives underlay datagrams that are not WireGuard messages (the join exchange), with how
   * long each waited in the receive queue (ms; 0: not known).
   * @ignore internal: a hook of the layers above the agent (the mesh, tests)
   */
  onForeignDatagram?: (data: Uint8Array, from: Endpoint, waitedMs: number) => void;
  /**
   * Health thresholds and probe interval.
   * @ignore internal: a hook of the layers above the agent (the mesh, tests)
   */
  health?: HealthOptions;
  /**
   * Which peers get health tracking and probes: `all` the device's (default), or `watched`
   * only those `Agent.watchPeer` names (sessions on demand: the others are `idle`).
   * @ignore internal: a hook of the layers above the agent (the mesh, tests)
   */
  healthScope?: "all" | "watched";
  /**
   * How this node is named in `/status`. Default: no name, role `peer`.
   * @ignore internal: a hook of the layers above the agent (the mesh, tests)
   */
  identity?: NodeIdentity;
  /**
   * How a peer is named and where it is probed. Default: no name, and the peer's first host
   * allowed IP (a /32 or /128).
   * @ignore internal: a hook of the layers above the agent (the mesh, tests)
   */
  describePeer?: (publicKey: string) => PeerIdentity;
  /**
   * Makes the health probe, once the agent's parts exist (a probe over the control stack needs
   * it); null turns probes off. Default: ICMP echo through the userspace stack (none with a TUN).
   * @ignore internal: a hook of the layers above the agent (the mesh, tests)
   */
  probe?: ((parts: AgentParts) => ProbeFn) | null;
  /**
   * Decides which plaintext packets leave and enter the tunnel (a network policy).
   * @ignore internal: a hook of the layers above the agent (the mesh, tests)
   */
  filter?: PacketFilter;
  /**
   * Collectors for `/metrics` that layers above the agent own (DNS, policy, join drops),
   * registered after the agent's own; more can be registered later on `Agent.metrics`.
   * @ignore internal: a hook of the layers above the agent (the mesh, tests)
   */
  collectors?: readonly Collector[];
  /**
   * Node fields for `/status` that layers above the agent own (the policy).
   * @ignore internal: a hook of the layers above the agent (the mesh, tests)
   */
  status?: () => Partial<NodeStatus>;
  /**
   * Peer fields for `/status` that layers above the agent own (a mesh peer's path).
   * @ignore internal: a hook of the layers above the agent (the mesh, tests)
   */
  peerStatus?: (publicKey: string) => Partial<PeerStatus>;
}

/** How this node is named in `/status`. */
export interface NodeIdentity {
  /** Node name ("" when unknown). */
  name: string;
  /** `leader`, `node`, or `peer` outside a managed mesh. */
  role: string;
}

/**
 * Probes a peer at an overlay address: the round trip in ms, null when no answer came, or NaN
 * when answered but not timed (read only after this process stalled past the probe's timeout).
 */
export type ProbeFn = (address: string) => Promise<number | null>;

/** The parts of a starting agent that the collaborators it is given may need. */
export interface AgentParts {
  /** The WireGuard device. */
  readonly device: Device;
  /** The userspace stack, in userspace mode. */
  readonly stack: UserspaceStack | null;
  /** The control-port stack, with `control: true`. */
  readonly control: UserspaceStack | null;
}

/** How the agent names a peer in status, metrics and the dashboard. */
export interface PeerIdentity {
  /** Node name ("" when unknown). */
  name: string;
  /** Overlay address to probe and show (no prefix). */
  address: string;
}

/** A ping's outcome. */
export interface PingResult {
  /** The address pinged. */
  address: string;
  /** Round-trip time in ms per echo request, null where no reply came in time. */
  rtts: (number | null)[];
  /**
   * Per echo request, the way to the peer the address is routed to when its reply came (null
   * where none came, or no peer routes the address).
   */
  paths: (PeerPath | null)[];
}

/** The way to a peer now, as its `/status` entry says it. */
export interface PeerPath {
  /** The peer's node name ("" when unknown). */
  name: string;
  /** Its base64 public key. */
  publicKey: string;
  /** Its underlay endpoint now, null when unknown (for a relayed peer: its relay's route). */
  endpoint: string | null;
  /** `direct`, `relay`, `none` or `idle` (mesh agents; absent otherwise). */
  path?: PeerStatus["path"];
  /** The relay's name when relayed, else null (mesh agents). */
  via?: string | null;
  /** `udp`, `tcp` or `websocket` (null or absent: not said). */
  transport?: "udp" | "tcp" | "websocket" | null;
  /** The HTTP proxy (`http://host:port`) that TCP connection went through; absent: none. */
  proxy?: string;
}

/** A datagram received from the mesh. */
export interface MeshDatagram {
  /** The sender's overlay address. */
  address: string;
  /** The sender's port. */
  port: number;
  /** The payload. */
  data: Uint8Array;
}
