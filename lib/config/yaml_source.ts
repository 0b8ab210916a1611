/**
 * The YAML side of the configuration: the file read within bounds (size, UTF-8), parsed with line
 * positions, its values turned into {@link Input} trees (aliases counted, so an alias bomb is
 * refused), and the `policy:` section kept as a node for the policy module.
 * @module
 */

import {
  type Document,
  isAlias,
  isMap,
  isScalar,
  isSeq,
  LineCounter,
  parseDocument,
  type YAMLError,
  type YAMLMap,
} from "npm:yaml@^2.9.1";
import { ConfigError } from "./config_error.ts";
import { type Input, type MapEntry, tooLong, type Where } from "./input.ts";
import { aliasBomb, MAX_ALIAS_EXPANSION } from "./yaml_aliases.ts";
import { InputTooLargeError, readFileBounded } from "./bounded_read.ts";

/** The `policy` section of the file, untouched, with what is needed to point at its lines. */
export interface PolicySource {
  /** The configuration file as given, for messages. */
  file: string;
  /** The whole text of the file; node ranges are offsets into it. */
  text: string;
  /**
   * The document, needed to resolve aliases inside `node` (`alias.resolve(doc)`).
   * @ignore internal: for locating lines
   */
  doc: Document;
  /**
   * The `policy:` mapping node (`node.range[0]` is its offset in `text`).
   * @ignore internal: for locating lines
   */
  node: YAMLMap.Parsed;
  /**
   * Turns an offset in `text` into a 1-based line: `lineCounter.linePos(offset).line`.
   * @ignore internal: for locating lines
   */
  lineCounter: LineCounter;
  /** The 1-based line where the mapping starts. */
  line: number;
  /** The mapping as plain data, aliases resolved. */
  value: Record<string, unknown>;
}

/** A parsed configuration file and what is needed to point at its lines. */
export interface YamlSource {
  /** The file as given, for messages. */
  file: string;
  /** Its whole text. */
  text: string;
  /** The parsed document. */
  doc: Document;
  /** Turns offsets in `text` into lines. */
  lineCounter: LineCounter;
  /** Aliases resolved so far, counted against {@link MAX_ALIASES}. */
  aliases: number;
}

/** Most aliases the option values of one file may use (the policy has its own bound). */
// Resolving aliases copies their target; a cap keeps a hostile file from exploding in size.
export const MAX_ALIASES = 100;

/** Configuration files larger than this are refused, whatever they are (1 MiB). */
export const MAX_CONFIG_BYTES = 1 << 20;

/** Reads the file within {@link MAX_CONFIG_BYTES} as UTF-8; a ConfigError names what failed. */
async function readConfigText(file: string): Promise<string> {
  let bytes: Uint8Array;
  try {
    bytes = await readFileBounded(file, MAX_CONFIG_BYTES);
  } catch (e) {
    const why = e instanceof InputTooLargeError
      ? `the configuration file is larger than ${MAX_CONFIG_BYTES} bytes (1 MiB)`
      : e instanceof Deno.errors.NotFound
      ? "the configuration file does not exist"
      : e instanceof Deno.errors.IsADirectory
      ? "is a directory, not a configuration file"
      : e instanceof Deno.errors.PermissionDenied || e instanceof Deno.errors.NotCapable
      ? "permission denied reading the configuration file"
      : `cannot read the configuration file: ${(e as Error).message}`;
    throw new ConfigError(why, { file });
  }
  try {
    return new TextDecoder("utf-8", { fatal: true }).decode(bytes);
  } catch {
    throw new ConfigError("the configuration file is not valid UTF-8 text", { file });
  }
}

/** The 1-based line where `node` starts, if it has a position. */
export function lineOf(y: YamlSource, node: unknown): number | undefined {
  const range = (node as { range?: [number, number, number] | null } | null)?.range;
  return range ? y.lineCounter.linePos(range[0]).line : undefined;
}

/**
 * The value `node` as an {@link Input} named `path`, aliases resolved (at most
 * {@link MAX_ALIASES}) and texts bounded; `fallbackLine` places nodes without a position.
 */
export function yamlInput(
  node: unknown,
  path: string,
  y: YamlSource,
  fallbackLine?: number,
): Input {
  const where: Where = { file: y.file, line: lineOf(y, node) ?? fallbackLine };
  const base = { path, where, fromFlag: false };
  if (isAlias(node)) {
    if (++y.aliases > MAX_ALIASES) {
      throw new ConfigError(`more than ${MAX_ALIASES} aliases`, where);
    }
    return yamlInput(node.resolve(y.doc) ?? null, path, y, where.line);
  }
  if (isScalar(node)) {
    tooLong(node.value, path, where);
    return { ...base, kind: "scalar", value: node.value, text: node.source };
  }
  if (isSeq(node)) {
    const items = node.items.map((item, i) => yamlInput(item, `${path}[${i}]`, y, where.line));
    return { ...base, kind: "seq", items };
  }
  if (isMap(node)) {
    const entries = node.items.map((pair): MapEntry => {
      const keyWhere: Where = { file: y.file, line: lineOf(y, pair.key) ?? where.line };
      const key = yamlKey(pair.key, path, keyWhere);
      return {
        key,
        where: keyWhere,
        value: yamlInput(pair.value, `${path}.${key}`, y, keyWhere.line),
      };
    });
    return { ...base, kind: "map", entries };
  }
  return { ...base, kind: "scalar", value: null };
}

/** A mapping key as text; a ConfigError when it is a list, a mapping or empty. */
export function yamlKey(key: unknown, path: string | undefined, where: Where): string {
  if (isScalar(key) && key.value !== null && typeof key.value !== "object") {
    return key.source ?? String(key.value);
  }
  const at = path === undefined ? "" : `${path}: `;
  throw new ConfigError(`${at}keys must be plain words, not lists, mappings or empty`, where);
}

// yaml reports a duplicate key by its first character only; read the key from the text.
function duplicateKeyName(text: string, at: number): string {
  const m = /^("(?:[^"\\\n]|\\.)*"|'(?:[^'\n]|'')*'|[^\s:#,{}[\]][^:#\n,{}]*?)\s*:/.exec(
    text.slice(at, at + 1100),
  );
  return m ? ` ${JSON.stringify(m[1].replace(/^["']|["']$/g, ""))}` : "";
}

/** A YAML syntax error (a duplicate key, a second document...) as a ConfigError at its line. */
function yamlError(e: YAMLError, y: YamlSource): ConfigError {
  const line = y.lineCounter.linePos(e.pos[0]).line;
  const reason = e.code === "DUPLICATE_KEY"
    ? `duplicate key${duplicateKeyName(y.text, e.pos[0])}`
    : e.code === "MULTIPLE_DOCS"
    ? "the file holds more than one YAML document (a second `---`)"
    : `invalid YAML: ${e.message}`;
  return new ConfigError(reason, { file: y.file, line });
}

/**
 * The `policy:` section kept for the policy module: the mapping node with its document and
 * lines, and its plain value; undefined when empty. Refuses an alias bomb before expanding it.
 */
export function policyFromNode(
  node: unknown,
  y: YamlSource,
  where: Where,
): PolicySource | undefined {
  let target = node;
  if (isAlias(target)) target = target.resolve(y.doc);
  if (target === null || target === undefined || (isScalar(target) && target.value === null)) {
    return undefined;
  }
  if (!isMap(target)) {
    const got = isSeq(target)
      ? "a list"
      : `${JSON.stringify((target as { value?: unknown }).value)}`;
    throw new ConfigError(`policy: expected a mapping, got ${got}`, where);
  }
  const map = target as YAMLMap.Parsed;
  const bomb = aliasBomb(map, y.doc);
  if (bomb) {
    throw new ConfigError(
      `policy: aliases expand to more than ${MAX_ALIAS_EXPANSION} values (refused as an alias bomb)`,
      { file: y.file, line: lineOf(y, bomb) ?? where.line },
    );
  }
  let value: Record<string, unknown>;
  try {
    value = map.toJS(y.doc, { maxAliasCount: MAX_ALIASES }) as Record<string, unknown>;
  } catch (e) {
    // yaml's own alias bound, on a shape the check above lets through.
    throw new ConfigError(`policy: ${(e as Error).message}`, where);
  }
  return {
    file: y.file,
    text: y.text,
    doc: y.doc,
    node: map,
    lineCounter: y.lineCounter,
    line: y.lineCounter.linePos(map.range[0]).line,
    value,
  };
}

/**
 * Reads and parses a configuration file: the document must parse cleanly and hold one mapping
 * at the top (`root`), or nothing (`root` null for an empty file).
 */
export async function openYamlFile(
  file: string,
): Promise<{ y: YamlSource; root: YAMLMap.Parsed | null }> {
  const text = await readConfigText(file);
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, prettyErrors: false, uniqueKeys: true });
  const y: YamlSource = { file, text, doc, lineCounter, aliases: 0 };
  const problem = doc.errors[0] ?? doc.warnings[0];
  if (problem !== undefined) throw yamlError(problem, y);
  let root: unknown = doc.contents;
  if (isAlias(root)) root = root.resolve(doc);
  if (root === null || root === undefined || (isScalar(root) && root.value === null)) {
    return { y, root: null };
  }
  if (!isMap(root)) {
    const got = isSeq(root) ? "a list" : "a single value";
    throw new ConfigError(`expected a mapping of option names to values at the top, got ${got}`, {
      file,
      line: lineOf(y, root),
    });
  }
  return { y, root: root as YAMLMap.Parsed };
}
