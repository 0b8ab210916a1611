/**
 * The option table's rows of the mesh and how its traffic goes: the role (leader or join), the
 * overlay networks, the UDP and TCP ports, WebSockets over TLS, the HTTP proxy, relaying, subnet
 * routes and exit nodes. Assembled, in this order, into the one table by `options.ts`.
 * @module
 */

import { none, type OptionRows } from "./option_spec.ts";
import { boolean, duration, integer, text } from "./combinators.ts";
import { cidr, directory, peerRef, routeList } from "./values.ts";
import { noProxyFromEnv, parseProxyUrl, proxyFromEnv } from "../net/proxy.ts";
import { ConfigError } from "./config_error.ts";
import { DEFAULT_LISTEN_PORT } from "../members/ports.ts";

/** These rows of the option table, in the order help lists them. */
export const NETWORK_OPTIONS: OptionRows<
  | "leader"
  | "join"
  | "joinTimeout"
  | "cidr"
  | "cidr6"
  | "listenPort"
  | "tcpPort"
  | "wsTlsCert"
  | "wsTlsKey"
  | "wsTlsPort"
  | "wsCa"
  | "proxy"
  | "relay"
  | "relayRate"
  | "advertiseRoutes"
  | "advertiseExitNode"
  | "acceptRoutes"
  | "snatSubnetRoutes"
  | "exitNode"
  | "exitNodeAllowLanAccess"
  | "exitNodeFallback"
> = {
  leader: {
    flag: "--leader",
    yaml: "leader",
    type: "boolean",
    default: "false",
    validation: "true or false; exactly one of leader and join",
    description: "run as the leader: create the mesh, hand out addresses and tokens",
    defaultValue: () => false,
    parse: boolean,
  },
  join: {
    flag: "--join",
    arg: "<token>",
    yaml: "join",
    type: "string",
    default: "none",
    validation: "a join token from `weft token create`",
    description: "join the mesh that issued this token",
    defaultValue: none,
    parse: text((s) => {
      if (s.trim() === "") throw new Error("the token is empty");
      return s.trim();
    }),
  },
  joinTimeout: {
    flag: "--join-timeout",
    arg: "<duration>",
    yaml: "join-timeout",
    type: "duration",
    default: "15s",
    validation: "1s to 24h, as 90s or 10m; a bare number is seconds",
    description: "how long a fresh node's join keeps asking the leader before it fails (exit " +
      "code 1): longer for a leader that may be slow or not started yet",
    defaultValue: () => 15_000,
    parse: duration(1000, 86_400_000),
  },
  cidr: {
    flag: "--cidr",
    arg: "<cidr>",
    yaml: "cidr",
    type: "IPv4 CIDR",
    default: "10.200.0.0/16",
    validation: "an IPv4 network /8 to /30 without host bits",
    description: "the overlay network the leader allocates addresses from",
    defaultValue: () => "10.200.0.0/16",
    parse: cidr(4, 8, 30),
  },
  cidr6: {
    flag: "--cidr6",
    arg: "<cidr>",
    yaml: "cidr6",
    type: "IPv6 CIDR",
    default: "none",
    validation: "an IPv6 network /8 to /126 without host bits",
    description: "an IPv6 overlay network, allocated alongside the IPv4 one",
    defaultValue: none,
    parse: cidr(6, 8, 126),
  },
  listenPort: {
    flag: "--listen-port",
    arg: "<port>",
    yaml: "listen-port",
    type: "integer",
    default: "51820",
    validation: "0 to 65535 (0: any free port)",
    description: "the UDP port for encrypted traffic",
    defaultValue: () => DEFAULT_LISTEN_PORT,
    parse: integer(0, 65535),
  },
  tcpPort: {
    flag: "--tcp-port",
    arg: "<port>",
    yaml: "tcp-port",
    type: "integer",
    default: "the listen port's number",
    validation: "0 to 65535 (0: no TCP)",
    description: "the TCP port for encrypted traffic, where UDP does not get through",
    defaultValue: none,
    parse: integer(0, 65535),
  },
  wsTlsCert: {
    flag: "--ws-tls-cert",
    arg: "<file>",
    yaml: "ws-tls-cert",
    type: "path",
    default: "none (WebSockets on the TCP port only, plain)",
    validation: "a PEM file (the chain), with ws-tls-key; in the file, relative to the file",
    description: "serve WebSockets over TLS (wss) too, with this certificate, on ws-tls-port: " +
      "for browsers on HTTPS pages and networks that let out HTTPS only",
    defaultValue: none,
    parse: directory,
  },
  wsTlsKey: {
    flag: "--ws-tls-key",
    arg: "<file>",
    yaml: "ws-tls-key",
    type: "path",
    default: "none",
    validation: "a PEM file, with ws-tls-cert",
    description: "the private key of ws-tls-cert",
    defaultValue: none,
    parse: directory,
  },
  wsTlsPort: {
    flag: "--ws-tls-port",
    arg: "<port>",
    yaml: "ws-tls-port",
    type: "integer",
    default: "443",
    validation: "0 to 65535 (0: any free port), with ws-tls-cert",
    description: "the TCP port wss is served on",
    defaultValue: () => 443,
    parse: integer(0, 65535),
  },
  wsCa: {
    flag: "--ws-ca",
    arg: "<file>",
    yaml: "ws-ca",
    type: "path",
    default: "the system's CAs",
    validation: "a PEM file; in the file, relative to the file",
    description: "the CA certificates wss:// endpoints are checked against (a private CA)",
    defaultValue: none,
    parse: directory,
  },
  proxy: {
    flag: "--proxy",
    arg: "<url|none>",
    yaml: "proxy",
    type: "URL or none",
    default: "https_proxy, HTTPS_PROXY, all_proxy or ALL_PROXY from the environment",
    validation: "http://[user:password@]host[:port] (port 1080 when left out), or none",
    description: "the HTTP proxy TCP connections go through (CONNECT), where UDP does not get " +
      "out; hosts in NO_PROXY are reached directly; none: no proxy, whatever the environment says",
    defaultValue: (sys) => {
      try {
        return sys.env ? proxyFromEnv(sys.env) : null;
      } catch (e) {
        throw new ConfigError((e as Error).message);
      }
    },
    parse: text((s, _input, ctx) => {
      if (s.trim().toLowerCase() === "none") return null;
      const url = parseProxyUrl(s);
      return { url, bypass: ctx.sys.env ? noProxyFromEnv(ctx.sys.env) : [], from: "proxy" };
    }),
  },
  relay: {
    flag: "--relay",
    yaml: "relay",
    type: "boolean",
    default: "false",
    validation: "true or false",
    description: "offer to relay for members without a direct path; a node relays once the " +
      "leader also grants it (token create --relay, node set --relay); the leader always does",
    defaultValue: () => false,
    parse: boolean,
  },
  relayRate: {
    flag: "--relay-rate",
    arg: "<Mbit/s>",
    yaml: "relay-rate",
    type: "integer",
    default: "10000",
    validation: "1 to 100000",
    description: "what a relay forwards for each member at most, in Mbit/s (members share a busy " +
      "relay fairly whatever this is)",
    defaultValue: () => 10_000,
    parse: integer(1, 100_000),
  },
  advertiseRoutes: {
    flag: "--advertise-routes",
    arg: "<cidr,...>",
    yaml: "advertise-routes",
    repeatable: true,
    type: "list of CIDR",
    default: "none",
    validation: "IPv4 or IPv6 prefixes without host bits, not a default route, at most 64",
    description: "networks behind this node it offers to carry for the mesh (TUN mode); " +
      "members use them once the leader approves them (route approve)",
    defaultValue: () => [],
    parse: routeList,
    fromFlag: (v) => (Array.isArray(v) ? v : [v]).flatMap((x) => String(x).split(",")),
  },
  advertiseExitNode: {
    flag: "--advertise-exit-node",
    yaml: "advertise-exit-node",
    type: "boolean",
    default: "false",
    validation: "true or false",
    description: "offer this node as an exit node for members' internet traffic (TUN mode), " +
      "once the leader approves it (route approve NODE exit)",
    defaultValue: () => false,
    parse: boolean,
  },
  acceptRoutes: {
    flag: "--no-accept-routes",
    yaml: "accept-routes",
    type: "boolean",
    default: "true",
    validation: "true or false (the flag sets false)",
    description: "route the approved subnet routes other members carry through them",
    defaultValue: () => true,
    parse: boolean,
  },
  snatSubnetRoutes: {
    flag: "--no-snat-subnet-routes",
    yaml: "snat-subnet-routes",
    type: "boolean",
    default: "true",
    validation: "true or false (the flag sets false)",
    description: "masquerade the mesh's traffic into the routes this node carries, so hosts " +
      "there need no route back; off: they see members' overlay addresses",
    defaultValue: () => true,
    parse: boolean,
  },
  exitNode: {
    flag: "--exit-node",
    arg: "<name|address>",
    yaml: "exit-node",
    type: "NAME or ADDRESS",
    default: "none",
    validation: "a member's name (a DNS label) or overlay IPv4/IPv6 address",
    description: "send this host's internet traffic (its default routes, IPv4 and IPv6) through " +
      "that member, an approved exit node (TUN mode); blocked while it is not there",
    defaultValue: none,
    parse: peerRef,
  },
  exitNodeAllowLanAccess: {
    flag: "--exit-node-allow-lan-access",
    yaml: "exit-node-allow-lan-access",
    type: "boolean",
    default: "false",
    validation: "true or false",
    description: "with an exit node, keep this host's LAN and other more specific routes out " +
      "of the tunnel",
    defaultValue: () => false,
    parse: boolean,
  },
  exitNodeFallback: {
    flag: "--exit-node-fallback",
    yaml: "exit-node-fallback",
    type: "boolean",
    default: "false",
    validation: "true or false",
    description: "while the exit node is not there (unknown, not an exit node, not approved, " +
      "offline), this host's internet traffic goes out directly; without it, it is blocked",
    defaultValue: () => false,
    parse: boolean,
  },
};
