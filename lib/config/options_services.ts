/**
 * The option table's rows of what a node offers: its labels, services (their HTTP backends,
 * checks and callers' limit) and plugins. Assembled, in this order, into the one table by
 * `options.ts`.
 * @module
 */

import type { OptionRows } from "./option_spec.ts";
import {
  callerLimitSetting,
  labelMap,
  labelsFromFlag,
  serviceCheckList,
  serviceHttpList,
  serviceList,
  servicesFromFlag,
} from "./values.ts";
import { pluginList } from "./plugins.ts";
import { DEFAULT_CALLER_LIMIT } from "../members/service_backends.ts";

/** These rows of the option table, in the order help lists them. */
export const SERVICE_OPTIONS: OptionRows<
  "labels" | "services" | "serviceHttp" | "serviceChecks" | "serviceCallerLimit" | "plugins"
> = {
  labels: {
    flag: "--label",
    arg: "<key=value>",
    attribute: "label",
    yaml: "labels",
    repeatable: true,
    type: "mapping of strings",
    default: "none",
    validation:
      "Kubernetes label syntax: [prefix/]name (name up to 63), value up to 63; joiners: node.weft/ only",
    description: "the leader's labels; a joining node's own (untrusted) node.weft/ labels",
    defaultValue: () => ({}),
    parse: labelMap,
    fromFlag: labelsFromFlag,
  },
  services: {
    flag: "--service",
    arg: "<name:port/proto>",
    attribute: "service",
    yaml: "services",
    repeatable: true,
    type: "list of {name, port, protocol, weight?, priority?, labels?, http?, check?}",
    default: "none",
    validation: "name a DNS label, port 1 to 65535, protocol tcp or udp (default tcp), " +
      "weight and priority 0 to 65535; http and check as --service-http's URL and " +
      "--service-check's text without NAME= (check may be a mapping: target, interval, timeout, " +
      "rise, fall)",
    description: "services this node offers, published in overlay DNS",
    defaultValue: () => [],
    parse: serviceList,
    fromFlag: servicesFromFlag,
  },
  serviceHttp: {
    flag: "--service-http",
    arg: "<name=url[,actions=a|b]>",
    repeatable: true,
    type: "list of NAME=URL[,actions=A|B]",
    default: "none",
    validation: "a service name and an http(s) base URL without query, credentials or comma, " +
      "optionally the only actions callers may call (actions=a|b) and those safe to retry " +
      "(idempotent=a|b, * all); once per service; in the file: http: in a services entry",
    description: "a service whose actions an HTTP server answers (action x: POST <url>/x, JSON)",
    defaultValue: () => [],
    parse: serviceHttpList,
    fromFlag: (v) => (Array.isArray(v) ? v : [v]),
  },
  serviceChecks: {
    flag: "--service-check",
    arg: "<name=target>",
    attribute: "serviceCheck",
    repeatable: true,
    type: "list of NAME=TARGET[,key=value...]",
    default: "none",
    validation: "TARGET tcp://HOST:PORT or an http(s) URL (2xx/3xx passes); interval and timeout " +
      "100ms to 1h (default 5s, 2s), rise and fall 1 to 99 (default 2, 3); a service offered " +
      "here, once; in the file: check: in a services entry",
    description: "a health check of a service: failing, it leaves DNS, calls and its election",
    defaultValue: () => [],
    parse: serviceCheckList,
    fromFlag: (v) => (Array.isArray(v) ? v : [v]),
  },
  serviceCallerLimit: {
    flag: "--service-caller-limit",
    arg: "<rate[,burst=n][,concurrent=n]>",
    yaml: "service-caller-limit",
    type: "RATE[,burst=N][,concurrent=N] or a mapping of rate, burst, concurrent",
    default: "200,burst=400,concurrent=32",
    validation: "rate 1 to 1000000 calls a second, burst 1 to 10000000 (default twice the " +
      "rate), concurrent 1 to 4096 (default 32)",
    description: "what each calling node may ask of this node's services (over: rate-limited)",
    defaultValue: () => ({ ...DEFAULT_CALLER_LIMIT }),
    parse: callerLimitSetting,
  },
  plugins: {
    flag: "--plugin",
    arg: "<file>",
    attribute: "plugin",
    yaml: "plugins",
    repeatable: true,
    type: "list of FILE or {path, permissions}",
    default: "none",
    validation: "a TypeScript or JavaScript module, at most 16; permissions a mapping of net, " +
      "read, write, env, sys, import, each true or a list (run and ffi are refused); the flag " +
      "grants none",
    description: "a plugin: a module run in a worker with only the permissions granted, offering " +
      "services and following topics through the services API",
    defaultValue: () => [],
    parse: pluginList,
    fromFlag: (v) => (Array.isArray(v) ? v : [v]),
  },
};
