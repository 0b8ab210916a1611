/**
 * Plugins as the configuration names them: a TypeScript module's path and the permissions the
 * operator grants it (`--plugin FILE`: none; in the file, `plugins:` entries, each a path or a
 * mapping of `path` and `permissions`). The permissions are those of a Deno worker; `run` and
 * `ffi` are not among them, since a subprocess or a native library runs outside the sandbox.
 * @module
 */

import { ConfigError } from "./config_error.ts";
import { describe, fail, type Input } from "./input.ts";
import { listOf, type Parser, string, unknownKey } from "./combinators.ts";
import { directory } from "./values.ts";
import type { PluginPermission, PluginPermissions, PluginSpec } from "./agent_types.ts";

export type { PluginPermission, PluginPermissions, PluginSpec };

/** The permissions a plugin may be granted, each a list of what it covers or `true` for all. */
export const PLUGIN_PERMISSIONS: readonly PluginPermission[] = [
  "net",
  "read",
  "write",
  "env",
  "sys",
  "import",
];

/** The most plugins one agent runs. */
export const MAX_PLUGINS = 16;

const PLUGIN_KEYS = ["path", "permissions"] as const;
// The longest list one permission takes.
const MAX_GRANTS = 64;

/** One permission's grant: `true`, or a list of hosts, paths or names (paths resolved). */
function grant(name: PluginPermission): Parser<true | string[]> {
  return (input, ctx) => {
    if (input.kind === "scalar" && input.value === true) return true;
    if (input.kind !== "seq") {
      return fail(input, `expected true or a list, got ${describe(input)}`);
    }
    if (input.items.length > MAX_GRANTS) {
      return fail(input, `${input.items.length} entries (at most ${MAX_GRANTS})`);
    }
    // Paths, as everywhere in the file, are relative to it.
    const item = name === "read" || name === "write" ? directory : string;
    return listOf((i, c) => {
      const v = item(i, c);
      if (v.trim() === "") return fail(i, "an empty entry");
      return v;
    })(input, ctx);
  };
}

/** One plugin: a path (no permissions), or a mapping of `path` and `permissions`. */
export const plugin: Parser<PluginSpec> = (input, ctx) => {
  if (input.kind === "scalar") return { path: directory(input, ctx), permissions: {} };
  if (input.kind !== "map") {
    return fail(
      input,
      `expected a path or a mapping with path and permissions, got ${describe(input)}`,
    );
  }
  let path: string | undefined;
  const permissions: PluginPermissions = {};
  for (const e of input.entries) {
    if (!(PLUGIN_KEYS as readonly string[]).includes(e.key)) {
      throw new ConfigError(unknownKey(input.path, e.key, PLUGIN_KEYS), e.where);
    }
    if (e.key === "path") path = directory(e.value, ctx);
    else Object.assign(permissions, permissionMap(e.value, ctx));
  }
  if (path === undefined) return fail(input, "a plugin needs a path");
  return { path, permissions };
};

/** The `permissions:` mapping of a plugin. */
const permissionMap: Parser<PluginPermissions> = (input: Input, ctx) => {
  if (input.kind !== "map") {
    return fail(input, `expected a mapping of permissions, got ${describe(input)}`);
  }
  const out: PluginPermissions = {};
  for (const e of input.entries) {
    if (e.key === "run" || e.key === "ffi") {
      throw new ConfigError(
        `${input.path}: ${e.key} cannot be granted to a plugin (it would run outside its sandbox)`,
        e.where,
      );
    }
    if (!(PLUGIN_PERMISSIONS as readonly string[]).includes(e.key)) {
      throw new ConfigError(unknownKey(input.path, e.key, PLUGIN_PERMISSIONS), e.where);
    }
    const name = e.key as PluginPermission;
    out[name] = grant(name)(e.value, ctx);
  }
  return out;
};

/** A list of plugins, at most {@link MAX_PLUGINS}, no module twice. */
export const pluginList: Parser<PluginSpec[]> = (input, ctx) => {
  const list = listOf(plugin)(input, ctx);
  if (list.length > MAX_PLUGINS) {
    return fail(input, `${list.length} plugins (at most ${MAX_PLUGINS})`);
  }
  list.forEach((p, i) => {
    if (list.findIndex((q) => q.path === p.path) !== i) {
      fail(input.kind === "seq" ? input.items[i] : input, `${p.path} is listed twice`);
    }
  });
  return list;
};
