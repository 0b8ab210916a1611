/**
 * The metric families the code declares, read from its declarations, and the families a Markdown
 * page names: for the test that holds docs/http-api.md to the code (metrics_doc_test.ts).
 *
 * A family is declared once, by a call of `counter`, `gauge` or `histogram` (or `new
 * MetricFamily`) imported from lib/metrics. The modules that import those are found in the module
 * graph (scripts/check_layers.ts), and each call's arguments are read from the source with its
 * comments blanked (a doc comment's example declares nothing). A declaration this reader cannot
 * follow (a name that is not a string literal, labels it cannot resolve, a namespace import) is a
 * problem, never skipped: the test cannot pass by reading less.
 * @module
 */

import { projectGraph } from "../../scripts/check_layers.ts";

/** A metric family as the code declares it. */
export interface DeclaredFamily {
  /** Its name. */
  name: string;
  /** Its type. */
  type: "counter" | "gauge" | "histogram";
  /** Its label names, in the declared order. */
  labels: string[];
  /** Where it is declared (`lib/x/metrics.ts:12`). */
  where: string;
}

/** A family named in a code span of a page: `name`, or `name{label,label="value"}`. */
export interface Mention {
  /** The name as written. */
  name: string;
  /** The label names in the braces; null without braces. */
  labels: string[] | null;
  /** 1-based line of the span. */
  line: number;
}

const HELPERS = new Set(["counter", "gauge", "histogram"]);
const IDENT = /^[A-Za-z_$][\w$]*$/;
const WORD = /[\w$]+/y;
// After these (or at the start), a `/` opens a regular expression rather than dividing.
const BEFORE_REGEX = new Set([..."(,=:[!&|?{};+-*%<>~^", "return", "typeof", "case", "do", "else"]);

/** The index just past the string or template literal that starts at `i`. */
function skipLiteral(src: string, i: number): number {
  const q = src[i];
  for (let j = i + 1; j < src.length; j++) {
    const c = src[j];
    if (c === "\\") j++;
    else if (c === q) return j + 1;
    else if (q === "`" && c === "$" && src[j + 1] === "{") j = closeOf(src, j + 1);
    else if (q !== "`" && c === "\n") return j;
  }
  return src.length;
}

/** The index of the bracket that closes the one at `open` (string literals skipped). */
function closeOf(src: string, open: number): number {
  let depth = 0;
  for (let j = open; j < src.length; j++) {
    const c = src[j];
    if (c === '"' || c === "'" || c === "`") j = skipLiteral(src, j) - 1;
    else if (c === "(" || c === "[" || c === "{") depth++;
    else if (c === ")" || c === "]" || c === "}") {
      if (--depth === 0) return j;
    }
  }
  return src.length;
}

/** `src` with its comments blanked (line feeds kept, so indexes and lines stay). */
export function blankComments(src: string): string {
  const out = src.split("");
  const blank = (from: number, to: number) => {
    for (let k = from; k < to; k++) if (out[k] !== "\n") out[k] = " ";
  };
  let prev = "";
  let i = 0;
  while (i < src.length) {
    const c = src[i];
    if (c === "/" && src[i + 1] === "/") {
      const end = src.indexOf("\n", i);
      const stop = end < 0 ? src.length : end;
      blank(i, stop);
      i = stop;
    } else if (c === "/" && src[i + 1] === "*") {
      const end = src.indexOf("*/", i + 2);
      const stop = end < 0 ? src.length : end + 2;
      blank(i, stop);
      i = stop;
    } else if (c === '"' || c === "'" || c === "`") {
      i = skipLiteral(src, i);
      prev = "a";
    } else if (c === "/" && (prev === "" || BEFORE_REGEX.has(prev))) {
      let j = i + 1, inClass = false;
      for (; j < src.length && src[j] !== "\n"; j++) {
        if (src[j] === "\\") j++;
        else if (src[j] === "[") inClass = true;
        else if (src[j] === "]") inClass = false;
        else if (src[j] === "/" && !inClass) break;
      }
      i = j + 1;
      prev = "a";
    } else if (/[\w$]/.test(c)) {
      WORD.lastIndex = i;
      prev = WORD.exec(src)![0];
      i += prev.length;
    } else {
      if (!/\s/.test(c)) prev = c;
      i++;
    }
  }
  return out.join("");
}

/** `text` split at its top-level commas, each part trimmed, a trailing empty part left out. */
function splitTop(text: string): string[] {
  const parts: string[] = [];
  let depth = 0, start = 0;
  for (let j = 0; j < text.length; j++) {
    const c = text[j];
    if (c === '"' || c === "'" || c === "`") j = skipLiteral(text, j) - 1;
    else if (c === "(" || c === "[" || c === "{") depth++;
    else if (c === ")" || c === "]" || c === "}") depth--;
    else if (c === "," && depth === 0) {
      parts.push(text.slice(start, j).trim());
      start = j + 1;
    }
  }
  const last = text.slice(start).trim();
  if (last !== "") parts.push(last);
  return parts;
}

/** The value of a plain string literal (`"x"`, `'x'`, or a template without `${`); else null. */
function stringLiteral(expr: string): string | null {
  const m = /^(["'`])([^"'`\\]*)\1$/.exec(expr.trim());
  return m && !m[2].includes("${") ? m[2] : null;
}

/**
 * The label names an argument gives: an array literal of string literals and spreads, or a
 * constant of the module holding one; null when it is something else.
 */
function resolveLabels(expr: string, code: string, depth = 0): string[] | null {
  const e = expr.trim().replace(/\s+as\s+const$/, "");
  if (depth > 8) return null;
  if (IDENT.test(e)) {
    const m = new RegExp(`\\bconst\\s+${e.replace(/\$/g, "\\$")}\\s*(?::[^=]+)?=\\s*\\[`).exec(
      code,
    );
    if (!m) return null;
    const open = m.index + m[0].length - 1;
    return resolveLabels(code.slice(open, closeOf(code, open) + 1), code, depth + 1);
  }
  if (!e.startsWith("[") || !e.endsWith("]")) return null;
  const out: string[] = [];
  for (const item of splitTop(e.slice(1, -1))) {
    const s = stringLiteral(item);
    if (s !== null) {
      out.push(s);
      continue;
    }
    const spread = /^\.\.\.\s*([A-Za-z_$][\w$]*)$/.exec(item);
    const inner = spread ? resolveLabels(spread[1], code, depth + 1) : null;
    if (inner === null) return null;
    out.push(...inner);
  }
  return out;
}

/** The 1-based line of index `i` in `text`. */
function lineAt(text: string, i: number): number {
  let n = 1;
  for (let k = text.indexOf("\n"); k >= 0 && k < i; k = text.indexOf("\n", k + 1)) n++;
  return n;
}

/**
 * The families `src` (the module `file`) declares with the helpers it imports from a module
 * `fromRegistry` accepts, and the declarations it could not read.
 */
export function familiesIn(
  file: string,
  src: string,
  fromRegistry: (specifier: string) => boolean,
): { families: DeclaredFamily[]; problems: string[] } {
  const code = blankComments(src);
  const families: DeclaredFamily[] = [];
  const problems: string[] = [];
  const helpers = new Map<string, DeclaredFamily["type"]>();
  let familyClass: string | null = null;
  const imports = /\bimport\s+(type\s+)?(\{[^}]*\}|\*\s*as\s+[\w$]+)\s*from\s*(["'])([^"']+)\3/g;
  for (const m of code.matchAll(imports)) {
    if (m[1] || !fromRegistry(m[4])) continue;
    if (m[2].startsWith("*")) {
      problems.push(
        `${file}:${lineAt(code, m.index)}: a namespace import of ${m[4]}: import ` +
          "counter, gauge and histogram by name, so their declarations can be read",
      );
      continue;
    }
    for (const part of splitTop(m[2].slice(1, -1))) {
      const p = /^(type\s+)?([\w$]+)(?:\s+as\s+([\w$]+))?$/.exec(part);
      if (!p || p[1]) continue;
      const local = p[3] ?? p[2];
      if (HELPERS.has(p[2])) helpers.set(local, p[2] as DeclaredFamily["type"]);
      if (p[2] === "MetricFamily") familyClass = local;
    }
  }
  const calls: { at: number; open: number; type: DeclaredFamily["type"] | null }[] = [];
  for (const [local, type] of helpers) {
    const re = new RegExp(
      `(?<![\\w$.])${local.replace(/\$/g, "\\$")}\\s*(?:<[^()]*?>)?\\s*\\(`,
      "g",
    );
    for (const m of code.matchAll(re)) {
      calls.push({ at: m.index, open: m.index + m[0].length - 1, type });
    }
  }
  if (familyClass !== null) {
    const re = new RegExp(
      `\\bnew\\s+${familyClass.replace(/\$/g, "\\$")}\\s*(?:<[^()]*?>)?\\s*\\(`,
      "g",
    );
    for (const m of code.matchAll(re)) {
      calls.push({ at: m.index, open: m.index + m[0].length - 1, type: null });
    }
  }
  for (const call of calls.sort((a, b) => a.at - b.at)) {
    const where = `${file}:${lineAt(code, call.at)}`;
    let args = splitTop(code.slice(call.open + 1, closeOf(code, call.open)));
    let type = call.type;
    if (type === null) {
      const t = stringLiteral(args[0] ?? "");
      if (t !== "counter" && t !== "gauge" && t !== "histogram") {
        problems.push(`${where}: a family whose type is not a string literal: ${args[0]}`);
        continue;
      }
      type = t;
      args = args.slice(1);
    }
    const name = stringLiteral(args[0] ?? "");
    if (name === null) {
      problems.push(`${where}: a family whose name is not a string literal: ${args[0]}`);
      continue;
    }
    const labels = args.length > 2 ? resolveLabels(args[2], code) : [];
    if (labels === null) {
      problems.push(`${where}: ${name}: labels this reader cannot resolve: ${args[2]}`);
      continue;
    }
    families.push({ name, type, labels, where });
  }
  return { families, problems };
}

/**
 * Every family the code of the project at `root` declares (its entries and every non-test module
 * under lib/, drivers/ and cli/, as the module graph has them), and the declarations it could not
 * read. A module declares families when it imports lib/metrics/registry.ts or lib/metrics/mod.ts.
 */
export async function declaredFamilies(
  root: string,
): Promise<{ families: DeclaredFamily[]; problems: string[] }> {
  const REGISTRY = ["lib/metrics/registry.ts", "lib/metrics/mod.ts"];
  const graph = await projectGraph(root);
  const families: DeclaredFamily[] = [];
  const problems: string[] = [];
  for (const [file, deps] of [...graph].sort(([a], [b]) => a.localeCompare(b))) {
    if (REGISTRY.includes(file) || !REGISTRY.some((r) => deps.has(r))) continue;
    const dir = file.includes("/") ? file.slice(0, file.lastIndexOf("/") + 1) : "";
    const fromRegistry = (spec: string) => {
      if (!spec.startsWith(".")) return false;
      const parts: string[] = [];
      for (const p of `${dir}${spec}`.split("/")) {
        if (p === "..") parts.pop();
        else if (p !== "." && p !== "") parts.push(p);
      }
      return REGISTRY.includes(parts.join("/"));
    };
    const got = familiesIn(file, await Deno.readTextFile(`${root}/${file}`), fromRegistry);
    families.push(...got.families);
    problems.push(...got.problems);
  }
  return { families, problems };
}

/**
 * The families a Markdown page names: its inline code spans (outside fenced blocks) that are a
 * metric name with `prefixes`, alone or with labels in braces (`name{a,b="x"|"y"}`).
 */
export function mentions(md: string, prefixes: readonly string[]): Mention[] {
  const lines = md.split("\n");
  let fence = false;
  const prose = lines.map((l) => {
    if (/^ {0,3}(`{3,}|~{3,})/.test(l)) {
      fence = !fence;
      return "";
    }
    return fence ? "" : l;
  }).join("\n");
  const out: Mention[] = [];
  for (const m of prose.matchAll(/`([^`]+)`/g)) {
    const span = m[1].trim();
    if (!prefixes.some((p) => span.startsWith(p))) continue;
    const line = lineAt(prose, m.index);
    const s = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?$/s.exec(span);
    if (!s) {
      out.push({ name: span, labels: null, line });
      continue;
    }
    const labels = s[2] === undefined
      ? null
      : splitTop(s[2]).map((part) => part.split("=")[0].trim()).filter((l) => l !== "");
    out.push({ name: s[1], labels, line });
  }
  return out;
}

/** What a page gets wrong about `families`, as lines; empty when it names them all right. */
export function pageProblems(
  page: string,
  families: readonly DeclaredFamily[],
  named: readonly Mention[],
): string[] {
  const byName = new Map(families.map((f) => [f.name, f]));
  const problems: string[] = [];
  // A histogram's series are its name with these suffixes (`le` labels the buckets).
  const familyOf = (name: string): { f: DeclaredFamily; bucket: boolean } | undefined => {
    const f = byName.get(name);
    if (f) return { f, bucket: false };
    const h = /^(.*)_(bucket|sum|count)$/.exec(name);
    const base = h ? byName.get(h[1]) : undefined;
    return base?.type === "histogram" ? { f: base, bucket: h![2] === "bucket" } : undefined;
  };
  for (const m of named) {
    const found = familyOf(m.name);
    if (!found) {
      problems.push(`${page}:${m.line}: \`${m.name}\` is no family the code declares`);
      continue;
    }
    const allowed = new Set([...found.f.labels, ...(found.bucket ? ["le"] : [])]);
    const extra = (m.labels ?? []).filter((l) => !allowed.has(l));
    if (extra.length > 0) {
      problems.push(
        `${page}:${m.line}: ${m.name}{${extra.join(",")}}: ${found.f.name} has no label ` +
          `${extra.join(", ")} (its labels: ${found.f.labels.join(", ") || "none"})`,
      );
    }
  }
  const seen = new Set<string>();
  for (const f of families) {
    if (seen.has(f.name)) continue;
    seen.add(f.name);
    const own = named.filter((m) => m.name === f.name);
    if (own.length === 0) {
      problems.push(`${f.name} (${f.where}) is not named in ${page}`);
      continue;
    }
    if (f.labels.length === 0) continue;
    const want = [...f.labels].sort().join(",");
    if (!own.some((m) => [...(m.labels ?? [])].sort().join(",") === want)) {
      problems.push(
        `${f.name} (${f.where}) is never written with its labels in ${page}: ` +
          `\`${f.name}{${f.labels.join(",")}}\``,
      );
    }
  }
  return problems;
}
