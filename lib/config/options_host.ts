/**
 * The option table's rows of the node on its host: the state directory and the shared store, the
 * interface, the node's name and endpoints, the status endpoint, the config file, logs and crypto.
 * Assembled, in this order, into the one table by `options.ts`.
 * @module
 */

import { none, type OptionRows } from "./option_spec.ts";
import { boolean, integerOrAuto, oneOf, text } from "./combinators.ts";
import { directory, dnsLabel, endpointList, hostPort } from "./values.ts";
import { defaultStateDir } from "./system.ts";
import { quote } from "../text/quote.ts";
import { interfaceNameProblem, sanitizeHostname } from "../net/names.ts";
import { parseLogFormat, parseLogLevel } from "../log/logger.ts";
import { BACKEND_NAMES } from "../crypto/select.ts";

/** These rows of the option table, in the order help lists them. */
export const HOST_OPTIONS: OptionRows<
  | "stateDir"
  | "store"
  | "storeCa"
  | "storeCert"
  | "storeKey"
  | "storePrefix"
  | "interface"
  | "userspace"
  | "hostname"
  | "onRemoved"
  | "advertise"
  | "statusListen"
  | "statusAllowRemote"
  | "config"
  | "logLevel"
  | "logFormat"
  | "crypto"
  | "cryptoWorkers"
> = {
  stateDir: {
    flag: "--state-dir",
    arg: "<dir>",
    yaml: "state-dir",
    type: "path",
    default: "/var/lib/weft as root, else $XDG_STATE_HOME/weft or ~/.local/state/weft",
    validation: "a directory; in the file, relative to the file; `~/` is expanded",
    description: "where keys, addresses and membership are kept",
    defaultValue: (sys) => defaultStateDir(sys),
    parse: directory,
  },
  store: {
    flag: "--store",
    arg: "<url>",
    yaml: "store",
    type: "URL",
    default: "none (the state directory)",
    validation: "etcd://HOST:PORT[,HOST:PORT...]; leaders only",
    description: "keep the mesh's state in etcd, shared by every leader given the same store",
    defaultValue: none,
    parse: text((s) => {
      const v = s.trim();
      if (!/^etcd:\/\/./i.test(v)) {
        throw new Error(`${quote(s)} is not etcd://HOST:PORT[,HOST:PORT...]`);
      }
      return v;
    }),
  },
  storeCa: {
    flag: "--store-ca",
    arg: "<file>",
    yaml: "store-ca",
    type: "path",
    default: "none (plain HTTP)",
    validation: "a PEM file; in the file, relative to the file",
    description: "the CA of the store's certificates: talk to the store over TLS",
    defaultValue: none,
    parse: directory,
  },
  storeCert: {
    flag: "--store-cert",
    arg: "<file>",
    yaml: "store-cert",
    type: "path",
    default: "none",
    validation: "a PEM file, with store-key and store-ca",
    description: "a client certificate for the store",
    defaultValue: none,
    parse: directory,
  },
  storeKey: {
    flag: "--store-key",
    arg: "<file>",
    yaml: "store-key",
    type: "path",
    default: "none",
    validation: "a PEM file, with store-cert",
    description: "the client certificate's private key",
    defaultValue: none,
    parse: directory,
  },
  storePrefix: {
    flag: "--store-prefix",
    arg: "<prefix>",
    yaml: "store-prefix",
    type: "string",
    default: "/weft/",
    validation: "1 to 200 characters ending with /, no spaces",
    description: "the prefix of weft's keys in the store (one mesh per prefix)",
    defaultValue: () => "/weft/",
    parse: text((s) => {
      if (s.length > 200 || !s.endsWith("/") || /[\s\0]/.test(s)) {
        throw new Error(`${quote(s)} is not 1 to 200 characters ending with /, without spaces`);
      }
      return s;
    }),
  },
  interface: {
    flag: "--interface",
    arg: "<name>",
    yaml: "interface",
    type: "string",
    default: "weft0",
    validation: "a Linux interface name: 1 to 15 printable ASCII characters, no / : % or spaces",
    description: "the TUN interface name",
    defaultValue: () => "weft0",
    parse: text((s) => {
      const p = interfaceNameProblem(s);
      if (p !== undefined) throw new Error(`${quote(s)} ${p}`);
      return s;
    }),
  },
  userspace: {
    flag: "--userspace",
    yaml: "userspace",
    type: "boolean",
    default: "false",
    validation: "true or false",
    description: "no TUN device: carry overlay traffic in-process (no root needed)",
    defaultValue: () => false,
    parse: boolean,
  },
  hostname: {
    flag: "--hostname",
    arg: "<name>",
    yaml: "hostname",
    type: "string",
    default: "the machine's host name, lowercased, as a DNS label",
    validation: "one DNS label: letters, digits and inner '-', up to 63; stored lowercase",
    description: "this node's name in the mesh and in overlay DNS",
    defaultValue: (sys) => sanitizeHostname(sys.hostname),
    parse: text(dnsLabel),
  },
  onRemoved: {
    flag: "--on-removed",
    arg: "<exit|wait>",
    yaml: "on-removed",
    type: "string",
    default: "exit",
    validation: "exit or wait",
    description: "what a node does when the leader removes it (weft node remove): exit (code 1) " +
      "or wait, running with no peers, for an operator",
    defaultValue: () => "exit" as const,
    parse: oneOf(["exit", "wait"] as const),
  },
  advertise: {
    flag: "--advertise",
    arg: "<host:port>",
    yaml: "advertise",
    repeatable: true,
    type: "list of HOST:PORT",
    default: "none",
    validation: "IPv4:PORT, [IPv6]:PORT or NAME:PORT, port 1 to 65535, no repeats",
    description: "underlay endpoints other nodes should use to reach this one",
    defaultValue: () => [],
    parse: endpointList,
    fromFlag: (v) => (Array.isArray(v) ? v : [v]),
  },
  statusListen: {
    flag: "--status-listen",
    arg: "<host:port>",
    yaml: "status-listen",
    type: "HOST:PORT",
    default: "127.0.0.1:51880",
    validation: "HOST:PORT, port 0 to 65535; loopback unless status-allow-remote",
    description: "the status and control HTTP endpoint",
    defaultValue: () => "127.0.0.1:51880",
    parse: hostPort(0),
  },
  statusAllowRemote: {
    flag: "--status-allow-remote",
    yaml: "status-allow-remote",
    type: "boolean",
    default: "false",
    validation: "true or false",
    description: "allow status-listen on an address other hosts can reach",
    defaultValue: () => false,
    parse: boolean,
  },
  config: {
    flag: "--config",
    arg: "<file>",
    type: "path",
    default: "none",
    validation: "a YAML file (flag only)",
    description: "read options from this YAML file; flags override it",
    defaultValue: none,
    parse: text((s) => {
      if (s.trim() === "") throw new Error("the path is empty");
      return s;
    }),
  },
  logLevel: {
    flag: "--log-level",
    arg: "<level>",
    yaml: "log-level",
    type: "string",
    default: "info",
    validation: "debug, info, warn or error",
    description: "the least severe messages logged",
    defaultValue: () => "info",
    parse: text((s) => parseLogLevel(s)),
  },
  logFormat: {
    flag: "--log-format",
    arg: "<format>",
    yaml: "log-format",
    type: "string",
    default: "text",
    validation: "text or json",
    description: "the log line format",
    defaultValue: () => "text",
    parse: text((s) => parseLogFormat(s)),
  },
  crypto: {
    flag: "--crypto",
    arg: "<backend>",
    yaml: "crypto",
    type: "string",
    default: "the fastest available",
    validation: BACKEND_NAMES.join(", ").replace(/, ([^,]*)$/, " or $1"),
    description: "force a crypto backend",
    defaultValue: none,
    parse: oneOf(BACKEND_NAMES),
  },
  cryptoWorkers: {
    flag: "--crypto-workers",
    arg: "<n>",
    yaml: "crypto-workers",
    type: "integer or auto",
    default: "auto",
    validation:
      "auto (2 with a TUN, libsodium and 4+ cores, else 0) or 0 to 64; above 0 needs libsodium",
    description: "threads that seal and open packet batches beside the main one",
    defaultValue: () => "auto" as const,
    parse: integerOrAuto(0, 64),
  },
};
