/**
 * The option table's rows of how a node treats its peers: NAT traversal and LAN discovery,
 * post-quantum keys, keepalives and the sessions kept, the MTU, health probes, and the access
 * policy between nodes. Assembled, in this order, into the one table by `options.ts`.
 * @module
 */

import { none, type OptionRows } from "./option_spec.ts";
import { boolean, duration, integer } from "./combinators.ts";
import { peerList } from "./values.ts";
import { policyFromNode } from "./yaml_source.ts";

/** These rows of the option table, in the order help lists them. */
export const PEER_OPTIONS: OptionRows<
  | "natTraversal"
  | "lanDiscovery"
  | "pq"
  | "requirePq"
  | "pqRotate"
  | "persistentKeepalive"
  | "keepPeer"
  | "mtu"
  | "probeInterval"
  | "policy"
> = {
  natTraversal: {
    flag: "--no-nat-traversal",
    yaml: "nat-traversal",
    type: "boolean",
    default: "true",
    validation: "true or false (the flag sets false)",
    description: "probe members' candidate endpoints and move each session to the best path " +
      "that answers; off: each member's first recorded endpoint, no LAN discovery",
    defaultValue: () => true,
    parse: boolean,
  },
  lanDiscovery: {
    flag: "--no-lan-discovery",
    yaml: "lan-discovery",
    type: "boolean",
    default: "true",
    validation: "true or false (the flag sets false)",
    description: "find members on the same LAN: this machine's interface addresses as " +
      "candidates, multicast announcements (239.255.82.21:51822, TTL 1); off: neither",
    defaultValue: () => true,
    parse: boolean,
  },
  pq: {
    flag: "--no-pq",
    yaml: "pq",
    type: "boolean",
    default: "true",
    validation: "true or false (the flag sets false)",
    description: "post-quantum preshared keys with the other weft members: an ML-KEM-768 " +
      "exchange through each pair's tunnel, rotated every pq-rotate; off: classical sessions " +
      "(plain WireGuard peers are never affected)",
    defaultValue: () => true,
    parse: boolean,
  },
  requirePq: {
    flag: "--require-pq",
    yaml: "require-pq",
    type: "boolean",
    default: "false",
    validation: "true or false; needs pq",
    description: "carry no traffic with a member until the session with it has a post-quantum " +
      "preshared key (the first seconds of a pair, a member without pq: refused); weft's own " +
      "control messages still pass",
    defaultValue: () => false,
    parse: boolean,
  },
  pqRotate: {
    flag: "--pq-rotate",
    arg: "<duration>",
    yaml: "pq-rotate",
    type: "duration",
    default: "110s",
    validation: "1s to 120s, as 5s or 2m; a bare number is seconds",
    description: "how often each pair of members makes a new post-quantum preshared key " +
      "(before WireGuard's rekey at 120 s)",
    defaultValue: () => 110_000,
    parse: duration(1000, 120_000),
  },
  persistentKeepalive: {
    flag: "--persistent-keepalive",
    arg: "<seconds>",
    yaml: "persistent-keepalive",
    type: "integer",
    default: "25",
    validation: "0 to 65535 (0: off)",
    description: "seconds between keepalives that hold NAT mappings open (to the peers " +
      "this node keeps a session with)",
    defaultValue: () => 25,
    parse: integer(0, 65535),
  },
  keepPeer: {
    flag: "--keep-peer",
    arg: "<name|address>",
    yaml: "keep-peer",
    repeatable: true,
    type: "list of NAME or ADDRESS",
    default: "none",
    validation: "a member's name (a DNS label) or overlay IPv4/IPv6 address, no repeats",
    description: "a member this node keeps a session with (keepalives, health and path " +
      "probes) without traffic, beside the leaders and relays; others get one on demand",
    defaultValue: () => [],
    parse: peerList,
    fromFlag: (v) => (Array.isArray(v) ? v : [v]),
  },
  mtu: {
    flag: "--mtu",
    arg: "<bytes>",
    yaml: "mtu",
    type: "integer",
    default: "1420",
    validation: "576 to 65535; at least 1280 with cidr6",
    description: "the MTU of the overlay interface",
    defaultValue: () => 1420,
    parse: integer(576, 65535),
  },
  probeInterval: {
    flag: "--probe-interval",
    arg: "<duration>",
    yaml: "probe-interval",
    type: "duration",
    default: "5s",
    validation: "100ms to 1h, as 500ms, 5s or 1m; a bare number is seconds",
    description: "how often each peer is probed through the tunnel for RTT and loss (health)",
    defaultValue: () => 5000,
    parse: duration(100, 3_600_000),
  },
  policy: {
    yaml: "policy",
    type: "mapping",
    default: "none",
    validation: "any mapping here; checked by the policy module (file only)",
    description: "access policy between nodes",
    defaultValue: none,
    parseNode: policyFromNode,
  },
};
