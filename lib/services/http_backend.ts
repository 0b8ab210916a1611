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
 * Every request carries who called, as the mesh knows it: `Weft-Caller-Address` (the caller's
 * overlay address, which its WireGuard key vouches for) and `Weft-Caller-Name` (its node name),
 * set by the agent (a caller sends only params, never headers); a call made on this node has
 * neither. `Weft-Deadline-Ms` says how long the caller still waits, ms: past it the request is
 * aborted and any answer dropped, so the backend may stop its work then. With an action list (`actions=get|put`) any other action is refused as `bad-request`
 * before a request is made.
 *
 * The option text `NAME=URL[,actions=A|B]` (`api=http://127.0.0.1:8080,actions=get|put`), as a
 * `--service-http` flag would take it, is parsed by {@link parseServiceHttp}.
 * @module
 */

import { serviceNameProblem } from "../members/services.ts";
import { backendUrl, type HttpBackendSpec } from "../members/service_backends.ts";
import { ServiceError } from "./errors.ts";
import type { CallContext, LocalService, ResolvedAction } from "./local.ts";
import { actionNameProblem } from "./wire.ts";

// The text forms live with the other rules for services (lib/members), where the configuration
// reads them too.
export { type HttpBackendSpec, parseServiceHttp } from "../members/service_backends.ts";

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

/** The service `spec` names, its actions answered by `POST <url>/<action>`. */
export function httpBackendService(
  spec: HttpBackendSpec,
  opts: HttpBackendOptions = {},
): LocalService {
  const url = backendUrl(spec.url, (why) => new Error(`service ${spec.name}: ${why}`));
  const p = serviceNameProblem(spec.name);
  if (p !== undefined) throw new Error(`bad service name ${JSON.stringify(spec.name)}: ${p}`);
  const idem = opts.idempotent ?? spec.idempotent ?? false;
  const allowed = spec.actions ? new Set(spec.actions) : null;
  const call = (action: string) => (params: unknown, ctx: CallContext) =>
    callBackend(url, action, params, ctx, opts);
  return {
    name: spec.name,
    // An action off the list is no action of the service: refused before any request.
    action: (name): ResolvedAction | undefined =>
      actionNameProblem(name) === undefined && (allowed === null || allowed.has(name))
        ? {
          handler: call(name),
          idempotent: idem === true || (Array.isArray(idem) && idem.includes(name)),
        }
        : undefined,
    actionNames: () => (allowed ? [...allowed] : null),
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
        // Who calls, as the mesh knows it (the WireGuard identity behind the overlay address):
        // set by the agent, never taken from the caller.
        headers: {
          "content-type": "application/json",
          accept: "application/json",
          ...(ctx.callerAddress ? { "weft-caller-address": ctx.callerAddress } : {}),
          ...(ctx.callerName ? { "weft-caller-name": ctx.callerName } : {}),
          // The time the caller still waits (as gRPC's grpc-timeout): the backend may stop
          // work past it, since its answer would be dropped.
          "weft-deadline-ms": String(
            Math.max(0, Math.min(timeoutMs, Math.floor(ctx.deadline - performance.now()))),
          ),
        },
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
