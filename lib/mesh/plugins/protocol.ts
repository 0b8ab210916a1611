/**
 * The messages between the agent (the host, host.ts) and a plugin's worker (worker.ts). The
 * worker runs code the agent does not trust, so the host checks every message it gets
 * ({@link parseFromPlugin}): one of the wrong shape is the plugin's fault, never the agent's.
 * @module
 */

/** An error as it crosses: its message, and a service error's code and status. */
export interface WireError {
  /** What happened. */
  message: string;
  /** A `ServiceError`'s code. */
  code?: string;
  /** An HTTP backend's status. */
  status?: number;
}

/** What the host sends the worker. */
export type ToPlugin =
  /** Load the module at `url` and call its default export. */
  | { t: "start"; url: string; name: string }
  /** The outcome of the plugin's request, publish, provide or subscribe `id`. */
  | { t: "result"; id: number; ok: true; value: unknown }
  | { t: "result"; id: number; ok: false; error: WireError }
  /** Run an action of a service the plugin provides; answer with `answer` of the same `call`. */
  | {
    t: "call";
    call: number;
    service: string;
    action: string;
    params: unknown;
    callerAddress: string | null;
    callerName: string | null;
    /** Milliseconds until the caller stops waiting. */
    remainingMs: number;
  }
  /** The caller of `call` stopped waiting. */
  | { t: "cancel"; call: number }
  /** An event of subscription `sub`. */
  | { t: "event"; sub: number; event: unknown }
  /** Subscription `sub` ended. */
  | { t: "ended"; sub: number }
  /** Liveness: answer `pong` with the same `n`. */
  | { t: "ping"; n: number };

/** What the worker sends the host. */
export type FromPlugin =
  /** The default export returned: the plugin runs. */
  | { t: "ready" }
  /** The module could not load, or its default export threw. */
  | { t: "fatal"; error: WireError }
  | { t: "pong"; n: number }
  | { t: "provide"; id: number; name: string; actions: { name: string; idempotent: boolean }[] }
  | { t: "unprovide"; name: string }
  | {
    t: "request";
    id: number;
    path: string;
    params: unknown;
    opts: { timeoutMs?: number; retries?: number; idempotent?: boolean };
  }
  | { t: "publish"; id: number; topic: string; data: unknown; mode?: string }
  | { t: "subscribe"; id: number; sub: number; pattern: string; group?: string; maxQueue?: number }
  | { t: "unsubscribe"; sub: number }
  /** The worker took an event of `sub` (the host sends at most a window ahead). */
  | { t: "took"; sub: number }
  | { t: "answer"; call: number; ok: true; value: unknown }
  | { t: "answer"; call: number; ok: false; error: WireError };

const isInt = (v: unknown): v is number => Number.isSafeInteger(v) && (v as number) >= 0;
const isText = (v: unknown, max = 1024): v is string => typeof v === "string" && v.length <= max;

/** A {@link WireError} from whatever was thrown. */
export function wireError(e: unknown): WireError {
  if (e instanceof Error) {
    const x = e as Error & { code?: unknown; status?: unknown };
    return {
      message: e.message,
      ...(typeof x.code === "string" ? { code: x.code } : {}),
      ...(typeof x.status === "number" ? { status: x.status } : {}),
    };
  }
  return { message: String(e) };
}

function parseError(v: unknown): WireError | null {
  if (typeof v !== "object" || v === null) return null;
  const e = v as Record<string, unknown>;
  if (!isText(e.message, 4096)) return null;
  if (e.code !== undefined && !isText(e.code, 64)) return null;
  if (e.status !== undefined && !isInt(e.status)) return null;
  return {
    message: e.message,
    ...(e.code !== undefined ? { code: e.code as string } : {}),
    ...(e.status !== undefined ? { status: e.status as number } : {}),
  };
}

/** The message as a {@link FromPlugin}, or a reason it is not one. */
export function parseFromPlugin(v: unknown): FromPlugin | string {
  if (typeof v !== "object" || v === null) return "not an object";
  const m = v as Record<string, unknown>;
  switch (m.t) {
    case "ready":
      return { t: "ready" };
    case "fatal": {
      const error = parseError(m.error);
      return error ? { t: "fatal", error } : "a fatal message without an error";
    }
    case "pong":
      return isInt(m.n) ? { t: "pong", n: m.n } : "a pong without a number";
    case "provide": {
      if (!isInt(m.id) || !isText(m.name, 63) || !Array.isArray(m.actions)) return "a bad provide";
      if (m.actions.length > 256) return "a provide with more than 256 actions";
      const actions: { name: string; idempotent: boolean }[] = [];
      for (const a of m.actions as unknown[]) {
        const x = a as Record<string, unknown> | null;
        if (!x || !isText(x.name, 64) || typeof x.idempotent !== "boolean") {
          return "a bad action in a provide";
        }
        actions.push({ name: x.name, idempotent: x.idempotent });
      }
      return { t: "provide", id: m.id, name: m.name, actions };
    }
    case "unprovide":
      return isText(m.name, 63) ? { t: "unprovide", name: m.name } : "a bad unprovide";
    case "request": {
      const o = (m.opts ?? {}) as Record<string, unknown>;
      if (
        !isInt(m.id) || !isText(m.path) || typeof o !== "object" ||
        (o.timeoutMs !== undefined && !isInt(o.timeoutMs)) ||
        (o.retries !== undefined && !isInt(o.retries)) ||
        (o.idempotent !== undefined && typeof o.idempotent !== "boolean")
      ) return "a bad request";
      const opts: { timeoutMs?: number; retries?: number; idempotent?: boolean } = {};
      if (o.timeoutMs !== undefined) opts.timeoutMs = o.timeoutMs as number;
      if (o.retries !== undefined) opts.retries = o.retries as number;
      if (o.idempotent !== undefined) opts.idempotent = o.idempotent as boolean;
      return { t: "request", id: m.id, path: m.path, params: m.params, opts };
    }
    case "publish":
      if (!isInt(m.id) || !isText(m.topic) || (m.mode !== undefined && !isText(m.mode, 32))) {
        return "a bad publish";
      }
      return {
        t: "publish",
        id: m.id,
        topic: m.topic,
        data: m.data,
        ...(m.mode !== undefined ? { mode: m.mode as string } : {}),
      };
    case "subscribe":
      if (
        !isInt(m.id) || !isInt(m.sub) || !isText(m.pattern) ||
        (m.group !== undefined && !isText(m.group, 63)) ||
        (m.maxQueue !== undefined && !isInt(m.maxQueue))
      ) return "a bad subscribe";
      return {
        t: "subscribe",
        id: m.id,
        sub: m.sub,
        pattern: m.pattern,
        ...(m.group !== undefined ? { group: m.group as string } : {}),
        ...(m.maxQueue !== undefined ? { maxQueue: m.maxQueue as number } : {}),
      };
    case "unsubscribe":
      return isInt(m.sub) ? { t: "unsubscribe", sub: m.sub } : "a bad unsubscribe";
    case "took":
      return isInt(m.sub) ? { t: "took", sub: m.sub } : "a bad took";
    case "answer": {
      if (!isInt(m.call)) return "an answer without a call";
      if (m.ok === true) return { t: "answer", call: m.call, ok: true, value: m.value };
      const error = parseError(m.error);
      return error ? { t: "answer", call: m.call, ok: false, error } : "an answer without an error";
    }
    default:
      return "an unknown message";
  }
}
