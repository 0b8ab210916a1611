/**
 * A node's preferences set at runtime (`weft set`, `PATCH /v1/prefs`, `MeshAgent.set`): its own
 * labels (`node.weft/` ones only: granted labels are the leader's), the services it offers, the
 * routes it advertises, whether it offers itself as an exit node, the exit node it uses and
 * whether it uses the routes other members carry. They are kept as changes
 * over what the agent was started with (flags and configuration file): labels set and removed,
 * services added and removed, the advertised routes and the exit-node offer replaced. `prefs.json` in the state directory holds
 * them (written atomically before any answer says they are in force) and every start lays them
 * over its configuration, so a restart keeps what was set; `reset` drops them all, back to the
 * configuration.
 *
 * Precedence: a label or service named in the preferences wins over the configuration's (a label
 * set there has its value, one removed there is gone even when configured), and so do routes and
 * the exit-node offer once set there (an empty list: none); everything else the configuration says
 * applies as configured. Like Tailscale's prefs, which `tailscale set` changes.
 *
 * Input from the control API and the file is parsed here once, into typed values, with the same
 * rules the start flags meet (`--label` and `--service` texts).
 * @module
 */

import { JsonFileError, readJsonFile, writeFileAtomic } from "../config/atomic.ts";
import { ConfigError } from "../config/config_error.ts";
import {
  isNodeLabelKey,
  labelPairProblem,
  MAX_LABELS,
  NODE_LABEL_PREFIX,
} from "../members/labels.ts";
import type { ServiceSpec } from "../members/member.ts";
import {
  MAX_SERVICES,
  parseServiceText,
  serviceId,
  serviceNameProblem,
} from "../members/services.ts";
import { quote } from "../text/quote.ts";
import { MAX_ROUTES, parseRoutes } from "../routes/prefixes.ts";
import { peerRefText } from "../config/values.ts";

/** The file in the state directory that holds the preferences. */
export const PREFS_FILE = "prefs.json";

/** The preferences: changes over the configuration the agent was started with. */
export interface Prefs {
  /** Own labels set (`node.weft/` keys), each with its value. */
  setLabels: Record<string, string>;
  /** Own label keys removed, configured or not. */
  removeLabels: string[];
  /** Services added (or replacing a configured one of the same name and protocol). */
  addServices: ServiceSpec[];
  /** Service names removed (every protocol), configured or not. */
  removeServices: string[];
  /** The subnet routes advertised, replacing the configured ones (absent: those). */
  advertiseRoutes?: string[];
  /** Whether this node offers itself as an exit node (absent: as configured). */
  advertiseExitNode?: boolean;
  /** The exit node used, null for none (absent: as configured). */
  exitNode?: string | null;
  /** Keep the host's LAN out of the exit node's tunnel (absent: as configured). */
  exitNodeAllowLanAccess?: boolean;
  /** Direct rather than blocked while the exit node is not there (absent: as configured). */
  exitNodeFallback?: boolean;
  /** Use the routes other members carry (absent: as configured). */
  acceptRoutes?: boolean;
}

/** One change of the preferences; absent fields change nothing. */
export interface PrefsChange {
  /** Own labels to set (`node.weft/` keys). */
  labels?: Record<string, string>;
  /** Own label keys to remove. */
  removeLabels?: string[];
  /** Services to offer (`name:port/protocol`, parsed). */
  services?: ServiceSpec[];
  /** Service names to stop offering. */
  removeServices?: string[];
  /** The subnet routes to advertise, all of them (empty: none). */
  advertiseRoutes?: string[];
  /** Offer this node as an exit node, or stop. */
  advertiseExitNode?: boolean;
  /** The exit node to use (a member's name or overlay address), or null to stop using one. */
  exitNode?: string | null;
  /** Keep the host's LAN out of the exit node's tunnel, or not. */
  exitNodeAllowLanAccess?: boolean;
  /** While the exit node is not there, go out directly rather than be blocked, or not. */
  exitNodeFallback?: boolean;
  /** Use the routes other members carry, or stop. */
  acceptRoutes?: boolean;
  /** Drop every preference first: back to the configuration. */
  reset?: boolean;
}

/** The settings the preferences change, as the agent uses them. */
export interface PrefSettings {
  /** The node's own labels. */
  labels: Record<string, string>;
  /** The services it offers (configured entries keep their other fields). */
  services: ServiceSpec[];
  /** The subnet routes it advertises (canonical, sorted). */
  advertiseRoutes: string[];
  /** Whether it offers itself as an exit node. */
  advertiseExitNode: boolean;
  /** The exit node it uses (undefined: none). */
  exitNode: string | undefined;
  /** Its LAN kept out of the exit node's tunnel. */
  exitNodeAllowLanAccess: boolean;
  /** Direct while the exit node is not there. */
  exitNodeFallback: boolean;
  /** It uses the routes other members carry. */
  acceptRoutes: boolean;
}

/** No preferences: the configuration as it is. */
export function noPrefs(): Prefs {
  return { setLabels: {}, removeLabels: [], addServices: [], removeServices: [] };
}

const FILE_KEYS = [
  "labels",
  "removeLabels",
  "services",
  "removeServices",
  "advertiseRoutes",
  "advertiseExitNode",
  "exitNode",
  "exitNodeAllowLanAccess",
  "exitNodeFallback",
  "acceptRoutes",
];
const CHANGE_KEYS = [...FILE_KEYS, "reset"];

function bad(path: string, why: string): never {
  throw new ConfigError(`${path}: ${why}`);
}

function stringList(v: unknown, path: string, max: number): string[] {
  if (!Array.isArray(v) || !v.every((x) => typeof x === "string")) {
    return bad(path, "want a list of strings");
  }
  if (v.length > max) return bad(path, `${v.length} items (at most ${max})`);
  return v as string[];
}

function ownLabels(v: unknown, path: string): Record<string, string> {
  if (typeof v !== "object" || v === null || Array.isArray(v)) {
    return bad(path, "want an object of label keys to values");
  }
  const entries = Object.entries(v);
  if (entries.length > MAX_LABELS) bad(path, `${entries.length} labels (at most ${MAX_LABELS})`);
  const out: Record<string, string> = {};
  for (const [k, value] of entries) {
    if (typeof value !== "string") bad(`${path}.${k}`, "want a string value");
    const p = labelPairProblem(k, value);
    if (p !== undefined) bad(`${path}.${k}`, p);
    ownKey(k, path);
    out[k] = value;
  }
  return out;
}

// A node sets only what it asserts about itself: granted labels stay the leader's.
function ownKey(k: string, path: string): void {
  if (!isNodeLabelKey(k)) {
    bad(
      path,
      `label ${quote(k)}: a node sets only its own labels, under ${NODE_LABEL_PREFIX} ` +
        `(${NODE_LABEL_PREFIX}${k.replace(/^.*\//, "")}); the leader grants the others ` +
        "(weft node set --label)",
    );
  }
}

function labelKeys(v: unknown, path: string): string[] {
  const keys = stringList(v, path, MAX_LABELS);
  for (const k of keys) {
    const p = labelPairProblem(k, "");
    if (p !== undefined) bad(path, `${quote(k)}: ${p}`);
    ownKey(k, path);
  }
  return [...new Set(keys)];
}

function services(v: unknown, path: string): ServiceSpec[] {
  const texts = stringList(v, path, MAX_SERVICES);
  const seen = new Set<string>();
  return texts.map((t) => {
    let s: ServiceSpec;
    try {
      s = parseServiceText(t);
    } catch (e) {
      return bad(path, (e as Error).message);
    }
    if (seen.has(serviceId(s))) bad(path, `service ${serviceId(s)} is given twice`);
    seen.add(serviceId(s));
    return s;
  });
}

function serviceNames(v: unknown, path: string): string[] {
  const names = stringList(v, path, MAX_SERVICES).map((n) => n.toLowerCase());
  for (const n of names) {
    const p = serviceNameProblem(n);
    if (p !== undefined) bad(path, `service name ${quote(n)} ${p}`);
  }
  return [...new Set(names)];
}

function routes(v: unknown, path: string): string[] {
  const texts = stringList(v, path, MAX_ROUTES);
  try {
    return parseRoutes(texts.map((t) => t.trim()));
  } catch (e) {
    return bad(path, (e as Error).message);
  }
}

// A member's name (a DNS label) or overlay address, as --exit-node takes it; "" or null: none.
function exitNodeRef(v: unknown, path: string): string | null {
  if (v === null || v === "") return null;
  if (typeof v !== "string") return bad(path, "want a member's name or overlay address");
  try {
    return peerRefText(v);
  } catch (e) {
    return bad(path, (e as Error).message);
  }
}

function flag(v: unknown, path: string): boolean {
  if (typeof v !== "boolean") bad(path, "want true or false");
  return v as boolean;
}

function object(v: unknown, path: string, keys: string[]): Record<string, unknown> {
  if (typeof v !== "object" || v === null || Array.isArray(v)) bad(path, "want a JSON object");
  for (const k of Object.keys(v)) {
    if (!keys.includes(k)) bad(path, `unknown field ${quote(k)} (${keys.join(", ")})`);
  }
  return v as Record<string, unknown>;
}

/**
 * Parses a change as the control API takes it: `{labels: {k: v}, removeLabels: [k],
 * services: ["web:8080/tcp"], removeServices: ["web"], reset: true}`, each field optional but
 * not all absent; throws a ConfigError naming the field and what is wrong.
 */
export function parsePrefsChange(body: unknown): PrefsChange {
  const o = object(body, "prefs", CHANGE_KEYS);
  const out: PrefsChange = {};
  if (o.labels !== undefined) out.labels = ownLabels(o.labels, "labels");
  if (o.removeLabels !== undefined) out.removeLabels = labelKeys(o.removeLabels, "removeLabels");
  if (o.services !== undefined) out.services = services(o.services, "services");
  if (o.removeServices !== undefined) {
    out.removeServices = serviceNames(o.removeServices, "removeServices");
  }
  if (o.advertiseRoutes !== undefined) {
    out.advertiseRoutes = routes(o.advertiseRoutes, "advertiseRoutes");
  }
  if (o.advertiseExitNode !== undefined) {
    out.advertiseExitNode = flag(o.advertiseExitNode, "advertiseExitNode");
  }
  if (o.exitNode !== undefined) out.exitNode = exitNodeRef(o.exitNode, "exitNode");
  for (const k of ["exitNodeAllowLanAccess", "exitNodeFallback", "acceptRoutes"] as const) {
    if (o[k] !== undefined) out[k] = flag(o[k], k);
  }
  if (o.reset !== undefined) out.reset = flag(o.reset, "reset");
  for (const k of Object.keys(out.labels ?? {})) {
    if (out.removeLabels?.includes(k)) bad("labels", `${quote(k)} is both set and removed`);
  }
  for (const s of out.services ?? []) {
    if (out.removeServices?.includes(s.name)) {
      bad("services", `${quote(s.name)} is both offered and removed`);
    }
  }
  if (Object.keys(out).length === 0 || (Object.keys(out).length === 1 && out.reset === false)) {
    bad("prefs", `nothing to change: give ${CHANGE_KEYS.join(", ")}`);
  }
  return out;
}

/** The preferences after `change`: a later change of a label or service replaces an earlier. */
export function mergePrefs(prefs: Prefs, change: PrefsChange): Prefs {
  const base = change.reset ? noPrefs() : prefs;
  const setLabels = { ...base.setLabels };
  const removeLabels = new Set(base.removeLabels);
  for (const k of change.removeLabels ?? []) {
    delete setLabels[k];
    removeLabels.add(k);
  }
  for (const [k, v] of Object.entries(change.labels ?? {})) {
    setLabels[k] = v;
    removeLabels.delete(k);
  }
  const removed = new Set(change.removeServices ?? []);
  const added = new Map<string, ServiceSpec>();
  for (const s of base.addServices) if (!removed.has(s.name)) added.set(serviceId(s), s);
  const removeServices = new Set([...base.removeServices, ...removed]);
  for (const s of change.services ?? []) {
    added.set(serviceId(s), { ...s });
    removeServices.delete(s.name);
  }
  const advertiseRoutes = change.advertiseRoutes ?? base.advertiseRoutes;
  const advertiseExitNode = change.advertiseExitNode ?? base.advertiseExitNode;
  const exitNode = change.exitNode !== undefined ? change.exitNode : base.exitNode;
  const allowLan = change.exitNodeAllowLanAccess ?? base.exitNodeAllowLanAccess;
  const fallback = change.exitNodeFallback ?? base.exitNodeFallback;
  const acceptRoutes = change.acceptRoutes ?? base.acceptRoutes;
  return {
    setLabels,
    removeLabels: [...removeLabels].sort(),
    addServices: [...added.values()],
    removeServices: [...removeServices].sort(),
    ...(advertiseRoutes !== undefined ? { advertiseRoutes: [...advertiseRoutes] } : {}),
    ...(advertiseExitNode !== undefined ? { advertiseExitNode } : {}),
    ...(exitNode !== undefined ? { exitNode } : {}),
    ...(allowLan !== undefined ? { exitNodeAllowLanAccess: allowLan } : {}),
    ...(fallback !== undefined ? { exitNodeFallback: fallback } : {}),
    ...(acceptRoutes !== undefined ? { acceptRoutes } : {}),
  };
}

/**
 * The settings in force: the configuration's labels and services with the preferences laid over
 * them (see the module docs for the precedence).
 */
export function layerPrefs(config: PrefSettings, prefs: Prefs): PrefSettings {
  const labels = { ...config.labels };
  for (const k of prefs.removeLabels) delete labels[k];
  Object.assign(labels, prefs.setLabels);
  const removed = new Set(prefs.removeServices);
  const added = new Map(prefs.addServices.map((s) => [serviceId(s), s]));
  const services = config.services.filter((s) => !removed.has(s.name) && !added.has(serviceId(s)));
  services.push(...prefs.addServices.map((s) => ({ ...s })));
  if (Object.keys(labels).length > MAX_LABELS) {
    throw new ConfigError(`${Object.keys(labels).length} labels (at most ${MAX_LABELS})`);
  }
  if (services.length > MAX_SERVICES) {
    throw new ConfigError(`${services.length} services (at most ${MAX_SERVICES})`);
  }
  return {
    labels,
    services,
    advertiseRoutes: [...(prefs.advertiseRoutes ?? config.advertiseRoutes)],
    advertiseExitNode: prefs.advertiseExitNode ?? config.advertiseExitNode,
    exitNode: prefs.exitNode === undefined ? config.exitNode : prefs.exitNode ?? undefined,
    exitNodeAllowLanAccess: prefs.exitNodeAllowLanAccess ?? config.exitNodeAllowLanAccess,
    exitNodeFallback: prefs.exitNodeFallback ?? config.exitNodeFallback,
    acceptRoutes: prefs.acceptRoutes ?? config.acceptRoutes,
  };
}

/** Whether `prefs` changes nothing. */
export function isEmptyPrefs(prefs: Prefs): boolean {
  return !Object.keys(prefs.setLabels).length && !prefs.removeLabels.length &&
    !prefs.addServices.length && !prefs.removeServices.length &&
    prefs.advertiseRoutes === undefined && prefs.advertiseExitNode === undefined &&
    prefs.exitNode === undefined && prefs.exitNodeAllowLanAccess === undefined &&
    prefs.exitNodeFallback === undefined && prefs.acceptRoutes === undefined;
}

function serviceText(s: ServiceSpec): string {
  return `${s.name}:${s.port}/${s.protocol}`;
}

/** The file's JSON form: services as their `--service` text. */
function prefsJson(prefs: Prefs): unknown {
  return {
    labels: prefs.setLabels,
    removeLabels: prefs.removeLabels,
    services: prefs.addServices.map(serviceText),
    removeServices: prefs.removeServices,
    ...(prefs.advertiseRoutes !== undefined ? { advertiseRoutes: prefs.advertiseRoutes } : {}),
    ...(prefs.advertiseExitNode !== undefined
      ? { advertiseExitNode: prefs.advertiseExitNode }
      : {}),
    ...(prefs.exitNode !== undefined ? { exitNode: prefs.exitNode } : {}),
    ...(prefs.exitNodeAllowLanAccess !== undefined
      ? { exitNodeAllowLanAccess: prefs.exitNodeAllowLanAccess }
      : {}),
    ...(prefs.exitNodeFallback !== undefined ? { exitNodeFallback: prefs.exitNodeFallback } : {}),
    ...(prefs.acceptRoutes !== undefined ? { acceptRoutes: prefs.acceptRoutes } : {}),
  };
}

/**
 * Reads `prefs.json` at `path`: no file is no preferences; a file that does not parse or
 * breaks a rule throws a ConfigError naming it (the agent does not start on what it cannot
 * read: a setting the user made would be lost silently).
 */
export async function readPrefs(path: string): Promise<Prefs> {
  try {
    const raw = await readJsonFile(path);
    return fromFile(object(raw, "prefs", FILE_KEYS));
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return noPrefs();
    // A JSON error names the file already.
    const why = e instanceof JsonFileError ? e.message : `${path}: ${(e as Error).message}`;
    throw new ConfigError(`${why} (fix it, or remove the file to go back to the configuration)`);
  }
}

function fromFile(o: Record<string, unknown>): Prefs {
  return {
    setLabels: ownLabels(o.labels ?? {}, "labels"),
    removeLabels: labelKeys(o.removeLabels ?? [], "removeLabels").sort(),
    addServices: services(o.services ?? [], "services"),
    removeServices: serviceNames(o.removeServices ?? [], "removeServices").sort(),
    ...(o.advertiseRoutes !== undefined
      ? { advertiseRoutes: routes(o.advertiseRoutes, "advertiseRoutes") }
      : {}),
    ...(o.advertiseExitNode !== undefined
      ? { advertiseExitNode: flag(o.advertiseExitNode, "advertiseExitNode") }
      : {}),
    ...(o.exitNode !== undefined ? { exitNode: exitNodeRef(o.exitNode, "exitNode") } : {}),
    ...(o.exitNodeAllowLanAccess !== undefined
      ? { exitNodeAllowLanAccess: flag(o.exitNodeAllowLanAccess, "exitNodeAllowLanAccess") }
      : {}),
    ...(o.exitNodeFallback !== undefined
      ? { exitNodeFallback: flag(o.exitNodeFallback, "exitNodeFallback") }
      : {}),
    ...(o.acceptRoutes !== undefined ? { acceptRoutes: flag(o.acceptRoutes, "acceptRoutes") } : {}),
  };
}

/** Writes `prefs.json` at `path` atomically (mode 0600); no preferences removes it. */
export async function writePrefs(path: string, prefs: Prefs): Promise<void> {
  if (isEmptyPrefs(prefs)) {
    await Deno.remove(path).catch((e) => {
      if (!(e instanceof Deno.errors.NotFound)) throw e;
    });
    return;
  }
  await writeFileAtomic(path, JSON.stringify(prefsJson(prefs), null, 2) + "\n", { mode: 0o600 });
}
