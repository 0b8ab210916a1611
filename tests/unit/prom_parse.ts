/**
 * A strict parser of the Prometheus text exposition format (0.0.4), for tests: it reads
 * HELP/TYPE lines and samples with escaped label values, and refuses what the format does not
 * allow (bad names, bad escapes, a sample outside its declared family, a series twice).
 * @module
 */

/** One parsed sample. */
export interface PromSample {
  /** The series name (with `_bucket`, `_sum`, `_count` for histograms). */
  name: string;
  /** Its labels. */
  labels: Record<string, string>;
  /** Its value. */
  value: number;
}

/** A parsed document. */
export interface PromDoc {
  /** Family name to its type and help. */
  families: Map<string, { type: string; help: string }>;
  /** Every sample, in order. */
  samples: PromSample[];
}

const NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*/;
const LABEL = /^[a-zA-Z_][a-zA-Z0-9_]*/;

function unescape(s: string, help: boolean): string {
  let out = "";
  for (let i = 0; i < s.length; i++) {
    if (s[i] !== "\\") {
      out += s[i];
      continue;
    }
    const c = s[++i];
    if (c === "\\") out += "\\";
    else if (c === "n") out += "\n";
    else if (c === '"' && !help) out += '"';
    else throw new Error(`bad escape \\${c}`);
  }
  return out;
}

function parseValue(v: string): number {
  if (v === "+Inf" || v === "Inf") return Infinity;
  if (v === "-Inf") return -Infinity;
  if (v === "NaN") return NaN;
  if (!/^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$/.test(v)) throw new Error(`bad value "${v}"`);
  return Number(v);
}

function familyOf(name: string, families: PromDoc["families"]): string | undefined {
  if (families.has(name)) return name;
  for (const suffix of ["_bucket", "_sum", "_count"]) {
    if (name.endsWith(suffix)) {
      const base = name.slice(0, -suffix.length);
      const f = families.get(base);
      if (f && (f.type === "histogram" || f.type === "summary")) return base;
    }
  }
  return undefined;
}

/** Parses a document; throws on anything malformed, naming the line. */
export function parsePrometheus(text: string): PromDoc {
  const families = new Map<string, { type: string; help: string }>();
  const samples: PromSample[] = [];
  const seen = new Set<string>();
  const lines = text.split("\n");
  if (text.length > 0 && lines.at(-1) !== "") throw new Error("the document must end in \\n");
  lines.forEach((line, n) => {
    try {
      if (line === "") return;
      if (line.startsWith("#")) {
        const m = /^# (HELP|TYPE) ([a-zA-Z_:][a-zA-Z0-9_:]*) (.*)$/.exec(line);
        if (!m) return; // a plain comment
        const f = families.get(m[2]) ?? { type: "untyped", help: "" };
        if (m[1] === "HELP") f.help = unescape(m[3], true);
        else {
          if (!["counter", "gauge", "histogram", "summary", "untyped"].includes(m[3])) {
            throw new Error(`bad type ${m[3]}`);
          }
          if (families.has(m[2]) && families.get(m[2])!.type !== "untyped") {
            throw new Error(`second TYPE for ${m[2]}`);
          }
          f.type = m[3];
        }
        families.set(m[2], f);
        return;
      }
      const nm = NAME.exec(line);
      if (!nm) throw new Error("bad metric name");
      const name = nm[0];
      let rest = line.slice(name.length);
      const labels: Record<string, string> = {};
      if (rest.startsWith("{")) {
        rest = rest.slice(1);
        while (!rest.startsWith("}")) {
          const ln = LABEL.exec(rest);
          if (!ln) throw new Error("bad label name");
          rest = rest.slice(ln[0].length);
          if (!rest.startsWith('="')) throw new Error('want ="');
          rest = rest.slice(2);
          let i = 0;
          while (i < rest.length && rest[i] !== '"') i += rest[i] === "\\" ? 2 : 1;
          if (i >= rest.length) throw new Error("unterminated label value");
          if (ln[0] in labels) throw new Error(`label ${ln[0]} twice`);
          labels[ln[0]] = unescape(rest.slice(0, i), false);
          rest = rest.slice(i + 1);
          if (rest.startsWith(",")) rest = rest.slice(1);
          else if (!rest.startsWith("}")) throw new Error("want , or }");
        }
        rest = rest.slice(1);
      }
      const parts = rest.split(" ").filter((p) => p !== "");
      if (!rest.startsWith(" ") || parts.length < 1 || parts.length > 2) {
        throw new Error("want ' value [timestamp]'");
      }
      const fam = familyOf(name, families);
      if (!fam) throw new Error(`sample ${name} outside a declared family`);
      const key = name + JSON.stringify(Object.entries(labels).sort());
      if (seen.has(key)) throw new Error(`series ${key} twice`);
      seen.add(key);
      samples.push({ name, labels, value: parseValue(parts[0]) });
    } catch (e) {
      throw new Error(`line ${n + 1}: ${(e as Error).message}: ${line}`);
    }
  });
  return { families, samples };
}

/** The value of the one sample of `name` whose labels include `labels`; throws unless one. */
export function promValue(doc: PromDoc, name: string, labels: Record<string, string> = {}): number {
  const hits = doc.samples.filter((s) =>
    s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v)
  );
  if (hits.length !== 1) {
    throw new Error(`${hits.length} samples of ${name} ${JSON.stringify(labels)}`);
  }
  return hits[0].value;
}

/** Runs `promtool check metrics` on a document; its exit code and output. */
export async function promtoolCheck(text: string): Promise<{ code: number; out: string }> {
  const child = new Deno.Command("promtool", {
    args: ["check", "metrics"],
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const w = child.stdin.getWriter();
  await w.write(new TextEncoder().encode(text));
  await w.close();
  const r = await child.output();
  const dec = new TextDecoder();
  return { code: r.code, out: dec.decode(r.stdout) + dec.decode(r.stderr) };
}
