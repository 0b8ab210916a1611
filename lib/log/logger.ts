/**
 * A small structured logger: one line per event, as logfmt-style text or JSON, to stderr or an
 * injected sink. Secrets never reach the output: fields whose names look like key material are
 * replaced by "[redacted]" and byte arrays are printed as their length only, at any depth.
 * @module
 */

/** Severity of an event; events below the logger's level are dropped. */
export type LogLevel = "debug" | "info" | "warn" | "error";

/** Output format: `text` (`<ts> INFO event k=v`) or `json` (one object per line). */
export type LogFormat = "text" | "json";

/** Structured context attached to an event. */
export type LogFields = Record<string, unknown>;

/** Receives one formatted line, without the trailing newline. */
export type LogSink = (line: string) => void;

/** Writes events at four levels; `child` returns a logger that adds fixed fields to every event. */
export interface Logger {
  /** Logs a debugging detail. */
  debug(event: string, fields?: LogFields): void;
  /** Logs a normal state change. */
  info(event: string, fields?: LogFields): void;
  /** Logs something unexpected that the program recovers from. */
  warn(event: string, fields?: LogFields): void;
  /** Logs a failure. */
  error(event: string, fields?: LogFields): void;
  /** Returns a logger that adds `fields` to every event (call-site fields win on a clash). */
  child(fields: LogFields): Logger;
  /** Whether events at `level` are written, to skip building costly fields. */
  enabled(level: LogLevel): boolean;
}

/** Options for {@linkcode createLogger}. */
export interface LoggerOptions {
  /** The lowest level written; default `info`. */
  level?: LogLevel;
  /** The line format; default `text`. */
  format?: LogFormat;
  /** Where lines go; default stderr. */
  sink?: LogSink;
  /** The clock for timestamps; injectable for tests. */
  now?: () => Date;
}

/** The accepted level names, lowest first. */
export const LOG_LEVELS: readonly LogLevel[] = ["debug", "info", "warn", "error"];

/** The accepted format names. */
export const LOG_FORMATS: readonly LogFormat[] = ["text", "json"];

const SEVERITY: Record<LogLevel, number> = { debug: 0, info: 1, warn: 2, error: 3 };
const LABEL: Record<LogLevel, string> = {
  debug: "DEBUG",
  info: "INFO",
  warn: "WARN",
  error: "ERROR",
};

/** The value written in place of a secret. */
export const REDACTED = "[redacted]";

const SECRET_NAME = /key|token|secret|psk|password/i;
// Public keys identify peers and are needed to read logs, so they stay visible.
const PUBLIC_NAME = /pub(lic)?[_-]?keys?$/i;
// Fields that would collide with the envelope in JSON output are renamed rather than dropped.
const RESERVED = new Set(["ts", "level", "msg"]);
const MAX_DEPTH = 6;

/** Whether a field named `name` is written as "[redacted]". */
export function isSecretFieldName(name: string): boolean {
  return SECRET_NAME.test(name) && !PUBLIC_NAME.test(name);
}

/** Parses a level name (case-insensitive; `warning` is accepted for `warn`). */
export function parseLogLevel(text: string): LogLevel {
  const name = text.trim().toLowerCase();
  if (name === "warning") return "warn";
  if ((LOG_LEVELS as readonly string[]).includes(name)) return name as LogLevel;
  throw new Error(
    `invalid log level ${JSON.stringify(text)}: expected one of ${LOG_LEVELS.join(", ")}`,
  );
}

/** Parses a format name (case-insensitive). */
export function parseLogFormat(text: string): LogFormat {
  const name = text.trim().toLowerCase();
  if ((LOG_FORMATS as readonly string[]).includes(name)) return name as LogFormat;
  throw new Error(
    `invalid log format ${JSON.stringify(text)}: expected one of ${LOG_FORMATS.join(", ")}`,
  );
}

const encoder = new TextEncoder();

/** Writes a line to stderr synchronously so lines from one process never interleave. */
function stderrSink(line: string): void {
  const bytes = encoder.encode(line + "\n");
  try {
    let off = 0;
    while (off < bytes.length) off += Deno.stderr.writeSync(bytes.subarray(off));
  } catch {
    // A closed stderr must not take the program down with it.
  }
}

/** Turns a field value into something JSON can hold, redacting secrets on the way down. */
function sanitize(value: unknown, depth: number, seen: Set<object>): unknown {
  if (value === null) return null;
  switch (typeof value) {
    case "string":
    case "boolean":
      return value;
    case "number":
      return Number.isFinite(value) ? value : String(value);
    case "bigint":
      return value.toString();
    case "undefined":
      return undefined;
    case "symbol":
    case "function":
      return String(value);
  }
  const obj = value as object;
  if (ArrayBuffer.isView(obj)) return `[${obj.byteLength} bytes]`;
  if (obj instanceof ArrayBuffer) return `[${obj.byteLength} bytes]`;
  if (obj instanceof Date) return Number.isNaN(obj.getTime()) ? "Invalid Date" : obj.toISOString();
  if (obj instanceof Error) return obj.message ? `${obj.name}: ${obj.message}` : obj.name;
  if (seen.has(obj)) return "[circular]";
  if (depth >= MAX_DEPTH) return "[too deep]";
  seen.add(obj);
  try {
    if (Array.isArray(obj)) return obj.map((v) => sanitize(v, depth + 1, seen) ?? null);
    if (obj instanceof Map) return sanitizeEntries(obj.entries(), depth, seen);
    if (obj instanceof Set) return [...obj].map((v) => sanitize(v, depth + 1, seen) ?? null);
    const proto = Object.getPrototypeOf(obj);
    if (proto !== Object.prototype && proto !== null && typeof obj.toString === "function") {
      // Class instances such as addresses or URLs read best through their own toString.
      const text = obj.toString();
      if (text !== "[object Object]") return text;
    }
    return sanitizeEntries(Object.entries(obj), depth, seen);
  } finally {
    seen.delete(obj);
  }
}

function sanitizeEntries(
  entries: Iterable<[unknown, unknown]>,
  depth: number,
  seen: Set<object>,
): Record<string, unknown> {
  // A null prototype keeps a field named "__proto__" an ordinary field.
  const out: Record<string, unknown> = Object.create(null);
  for (const [k, v] of entries) {
    const name = String(k);
    out[name] = isSecretFieldName(name) ? REDACTED : sanitize(v, depth + 1, seen);
  }
  return out;
}

// Text values are quoted when a reader could not otherwise tell where they end.
const NEEDS_QUOTES = /[\s"=\\\p{Cc}]|^$/u;
const CONTROL = /\p{Cc}/gu;

function textValue(value: unknown): string {
  const text = typeof value === "string" ? value : JSON.stringify(value);
  return NEEDS_QUOTES.test(text) ? JSON.stringify(text) : text;
}

function textKey(name: string): string {
  const cleaned = name.replace(/[\s"=\p{Cc}]/gu, "_");
  return cleaned === "" ? "_" : cleaned;
}

type Formatter = (ts: string, level: LogLevel, event: string, fields: LogFields) => string;

function formatText(ts: string, level: LogLevel, event: string, fields: LogFields): string {
  let line = `${ts} ${LABEL[level]} ${event.replace(CONTROL, " ")}`;
  for (const name of Object.keys(fields)) {
    const value = fields[name];
    if (value === undefined) continue;
    line += ` ${textKey(name)}=${textValue(value)}`;
  }
  return line;
}

function formatJson(ts: string, level: LogLevel, event: string, fields: LogFields): string {
  const out: Record<string, unknown> = Object.create(null);
  out.ts = ts;
  out.level = level;
  out.msg = event;
  for (const name of Object.keys(fields)) out[name] = fields[name];
  return JSON.stringify(out);
}

class StructuredLogger implements Logger {
  readonly #min: number;
  readonly #format: Formatter;
  readonly #sink: LogSink;
  readonly #now: () => Date;
  readonly #bound: LogFields;

  constructor(min: number, format: Formatter, sink: LogSink, now: () => Date, bound: LogFields) {
    this.#min = min;
    this.#format = format;
    this.#sink = sink;
    this.#now = now;
    this.#bound = bound;
  }

  debug(event: string, fields?: LogFields): void {
    if (this.#min <= 0) this.#write("debug", event, fields);
  }

  info(event: string, fields?: LogFields): void {
    if (this.#min <= 1) this.#write("info", event, fields);
  }

  warn(event: string, fields?: LogFields): void {
    if (this.#min <= 2) this.#write("warn", event, fields);
  }

  error(event: string, fields?: LogFields): void {
    if (this.#min <= 3) this.#write("error", event, fields);
  }

  enabled(level: LogLevel): boolean {
    return SEVERITY[level] >= this.#min;
  }

  child(fields: LogFields): Logger {
    return new StructuredLogger(this.#min, this.#format, this.#sink, this.#now, {
      ...this.#bound,
      ...fields,
    });
  }

  #write(level: LogLevel, event: string, fields: LogFields | undefined): void {
    const merged = fields === undefined ? this.#bound : { ...this.#bound, ...fields };
    const clean = sanitizeEntries(Object.entries(merged), 0, new Set());
    const renamed: LogFields = Object.create(null);
    for (const name of Object.keys(clean)) {
      renamed[RESERVED.has(name) ? `field.${name}` : name] = clean[name];
    }
    this.#sink(this.#format(this.#now().toISOString(), level, event, renamed));
  }
}

/** Creates a logger; defaults are level `info`, format `text`, output to stderr. */
export function createLogger(options: LoggerOptions = {}): Logger {
  const level = options.level ?? "info";
  const format = options.format ?? "text";
  if (!(level in SEVERITY)) parseLogLevel(String(level));
  if (format !== "text" && format !== "json") parseLogFormat(String(format));
  return new StructuredLogger(
    SEVERITY[level],
    format === "json" ? formatJson : formatText,
    options.sink ?? stderrSink,
    options.now ?? (() => new Date()),
    {},
  );
}

class NullLogger implements Logger {
  debug(): void {}
  info(): void {}
  warn(): void {}
  error(): void {}
  child(): Logger {
    return this;
  }
  enabled(): boolean {
    return false;
  }
}

/** A logger that discards everything, for tests and library callers that want silence. */
export const nullLogger: Logger = new NullLogger();
