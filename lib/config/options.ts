/**
 * The option table: for every option its flag, YAML key, type, default, accepted values and
 * description, and the parser its value goes through. The one place an option is declared (its
 * row in its area's `options_*.ts`, assembled here in the order help lists them); the loader,
 * the merge and the help text all read it.
 *
 * Naming rule: an option's YAML key is its flag without the leading dashes, so `--listen-port` is
 * `listen-port:`; a switch that is on by default has the flag `--no-KEY` (`--no-lan-discovery` is
 * `lan-discovery: false`). The two repeatable flags that build a collection are singular and their keys
 * plural: `--label k=v` is `labels:` (a mapping), `--service web:80/tcp` is `services:` (a list).
 * `config`, `--service-http` and `--service-check` exist only as flags (in the file, a service's
 * HTTP backend and check are `http:` and `check:` in its `services:` entry), `policy` only in
 * the file. In `AgentConfig` each option is
 * the camelCase form of its key (`listenPort`), which is also commander's attribute name for the
 * flag (`label`, `service` and `serviceCheck` for the repeatable ones named in the singular).
 * @module
 */

import type { OptionKey } from "./agent_types.ts";
import type { OptionRows } from "./option_spec.ts";
import { NETWORK_OPTIONS } from "./options_network.ts";
import { HOST_OPTIONS } from "./options_host.ts";
import { SERVICE_OPTIONS } from "./options_services.ts";
import { DNS_OPTIONS } from "./options_dns.ts";
import { PEER_OPTIONS } from "./options_peers.ts";

/**
 * Every option, by its name in `AgentConfig`, in the order help lists them: each area's rows
 * (`options_*.ts`) in turn.
 */
export const OPTIONS: OptionRows<OptionKey> = {
  ...NETWORK_OPTIONS,
  ...HOST_OPTIONS,
  ...SERVICE_OPTIONS,
  ...DNS_OPTIONS,
  ...PEER_OPTIONS,
};

/** The option names in table order. */
export const KEYS = Object.keys(OPTIONS) as OptionKey[];
/** Options by YAML key. */
export const YAML_KEYS: ReadonlyMap<string, OptionKey> = new Map(
  KEYS.filter((k) => OPTIONS[k].yaml !== undefined).map((k) => [OPTIONS[k].yaml!, k]),
);
/** Options by commander attribute name. */
export const FLAG_ATTRIBUTES: ReadonlyMap<string, OptionKey> = new Map(
  KEYS.filter((k) => OPTIONS[k].flag !== undefined).map((k) => [OPTIONS[k].attribute ?? k, k]),
);
