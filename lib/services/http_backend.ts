/**
 * Any program as a service: a service whose actions an HTTP server answers. Action `x` is
 * `POST <base>/x` with the params as a JSON body; a 2xx answer's JSON body (empty: null) is the
 * result. Otherwise a {@link ServiceError}:
 * - a status outside 2xx: `remote-error` with the status and the start of the body;
 * - no answer before the caller's deadline (or the backend's own timeout): `timeout`;
 * - an answer over the size limit: `too-large`; one that is not JSON: `remote-error`;
 * - the connection refused: `no-instance` (the action did not run, so callers try another
 *   instance, idempotent or not).
 *
 * The option text `NAME=URL` (`api=http://127.0.0.1:8080`), as a `--service-http` flag would
 * take it, is parsed by {@link parseServiceHttp}.
 * @module
 */

import { serviceNameProblem } from "../members/services.ts";
import { quote } from "../text/quote.ts";
import { ServiceError } from "./errors.ts";
import type { CallContext, LocalService, ResolvedAction } from "./local.ts";
import { actionNameProblem } from "./wire.ts";

/** A service backed by an HTTP server. */
export interface HttpBackendSpec {
  /** The service name. */
  name: string;
  /** The base URL (`http://127.0.0.1:8080`, or with a path prefix), no trailing slash. */
  url: string;
}

/** How an HTTP backend is called. */
export interface HttpBackendOptions {
  /** The longest wait for an answer, ms, whatever the caller's deadline. Default 30000. */
  timeoutMs?: number;
  /** The largest answer body read, bytes. Default 1 MiB. */
  maxResponseBytes?: number;
  /** Actions declared idempotent (safe to run twice), or true for all. Default none. */
  idempotent?: readonly string[] | boolean;
  /** The fetch to use (tests). */
  fetch?: typeof fetch;
}

/**
 * Parses `NAME=URL` (`api=http://127.0.0.1:8080`): a service name and an http or https URL
 * without query, fragment or credentials. Throws an Error naming the text and what is wrong.
 *
 * @example
 * ```ts
 * import { parseServiceHttp } from "@weft/weft";
 * parseServiceHttp("api=http://127.0.0.1:8080"); // { name: "api", url: "http://127.0.0.1:8080" }
 * ```
 */
export function parseServiceHttp(text: string): HttpBackendSpec {
  const bad = (why: string) => new Error(`invalid HTTP service ${quote(text)}: ${why}`);
  const eq = text.indexOf("=");
  if (eq < 0) throw bad("expected NAME=URL, as in api=http://127.0.0.1:8080");
  const name = text.slice(0, eq).trim().toLowerCase();
  const p = serviceNameProblem(name);
  if (p !== undefined) throw bad(`the name ${p}`);
  return { name, url: backendUrl(text.slice(eq + 1).trim(), bad) };
}

function backendUrl(raw: string, bad: (why: string) => Error): string {
  let u: URL;
  try {
    u = new URL(raw);
  } catch {
    throw bad(`${quote(raw)} is not a URL (as in http://127.0.0.1:8080)`);
  }
  if (u.protocol !== "http:" && u.protocol !== "https:") {
    throw bad(`the URL must be http or https, not ${u.protocol.slice(0, -1)}`);
  }
  if (u.username || u.password) throw bad("the URL must not hold credentials");
  if (u.search || u.hash || raw.includes("?") || raw.includes("#")) {
    throw bad("the URL must not have a query or fragment (actions are added to its path)");
  }
  return u.href.replace(/\/+$/, "");
}

/** The service `spec` names, its actions answered by `POST <url>/<action>`. */
export function httpBackendService(
  spec: HttpBackendSpec,
  opts: HttpBackendOptions = {},
): LocalService {
  const url = backendUrl(spec.url, (why) => new Error(`service ${spec.name}: ${why}`));
  const p = serviceNameProblem(spec.name);
  if (p !== undefined) throw new Error(`bad service name ${JSON.stringify(spec.name)}: ${p}`);
  const idem = opts.idempotent ?? false;
  const call = (action: string) => (params: unknown, ctx: CallContext) =>
    callBackend(url, action, params, ctx, opts);
  return {
    name: spec.name,
    action: (name): ResolvedAction | undefined =>
      actionNameProblem(name) === undefined
        ? {
          handler: call(name),
          idempotent: idem === true || (Array.isArray(idem) && idem.includes(name)),
        }
        : undefined,
    actionNames: () => null,
  };
}

async function callBackend(
  base: string,
  action: string,
  params: unknown,
  ctx: CallContext,
  opts: HttpBackendOptions,
): Promise<unknown> {
  const doFetch = opts.fetch ?? fetch;
  const limit = opts.maxResponseBytes ?? 1 << 20;
  const target = `${base}/${action}`;
  const who = `the backend of ${ctx.service}`;
  let body: string;
  try {
    body = JSON.stringify(params ?? null, (_k, v) => {
      if (v instanceof Uint8Array) throw new Error("byte arrays have no JSON form");
      return v;
    });
  } catch (e) {
    throw new ServiceError(
      "bad-request",
      `the params cannot go to ${who} as JSON: ${(e as Error).message}`,
    );
  }
  const own = new AbortController();
  const timeoutMs = opts.timeoutMs ?? 30_000;
  const timer = setTimeout(() => own.abort(), timeoutMs);
  const onCaller = () => own.abort();
  ctx.signal.addEventListener("abort", onCaller, { once: true });
  if (ctx.signal.aborted) own.abort();
  const timedOut = () =>
    new ServiceError(
      "timeout",
      ctx.signal.aborted
        ? `${who} did not answer before the caller's deadline`
        : `${who} did not answer within ${timeoutMs} ms`,
    );
  try {
    let res: Response;
    try {
      res = await doFetch(target, {
        method: "POST",
        headers: { "content-type": "application/json", accept: "application/json" },
        body,
        signal: own.signal,
        redirect: "manual",
      });
    } catch (e) {
      if (own.signal.aborted) throw timedOut();
      const why = String((e as Error).cause ?? e);
      if (/\(Connect\)|Connection refused/i.test(why)) {
        throw new ServiceError("no-instance", `${who} at ${base} refused the connection`);
      }
      throw new ServiceError("remote-error", `${who} failed: ${why.split("\n")[0].slice(0, 200)}`);
    }
    let text: string;
    try {
      text = await readLimited(res, limit);
    } catch (e) {
      if (e instanceof ServiceError) throw e;
      if (own.signal.aborted) throw timedOut();
      throw new ServiceError(
        "remote-error",
        `${who} failed while answering: ${String(e).slice(0, 200)}`,
      );
    }
    if (res.status < 200 || res.status > 299) {
      const snippet = text.length > 200 ? `${text.slice(0, 200)}...` : text;
      throw new ServiceError(
        "remote-error",
        `${who} answered ${res.status}${snippet ? `: ${snippet}` : ""}`,
        { status: res.status },
      );
    }
    if (text.trim() === "") return null;
    try {
      return JSON.parse(text);
    } catch {
      throw new ServiceError("remote-error", `${who} answered with something that is not JSON`);
    }
  } finally {
    clearTimeout(timer);
    ctx.signal.removeEventListener("abort", onCaller);
  }
}

/** The body as text, refusing (and cancelling) one over `limit` bytes. */
async function readLimited(res: Response, limit: number): Promise<string> {
  const declared = Number(res.headers.get("content-length"));
  if (Number.isFinite(declared) && declared > limit) {
    await res.body?.cancel();
    throw new ServiceError("too-large", `the backend's answer is ${declared} bytes, over ${limit}`);
  }
  if (res.body === null) return "";
  const reader = res.body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    size += value.length;
    if (size > limit) {
      await reader.cancel();
      throw new ServiceError("too-large", `the backend's answer is over ${limit} bytes`);
    }
    chunks.push(value);
  }
  const all = new Uint8Array(size);
  let at = 0;
  for (const c of chunks) {
    all.set(c, at);
    at += c.length;
  }
  return new TextDecoder().decode(all);
}
