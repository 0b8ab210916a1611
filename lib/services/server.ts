/**
 * Serving calls: a request from another member runs the action of a service provided here and
 * its answer goes back. Before it runs: the caller's limits (calls per second, handlers at once,
 * see caller_limits.ts); whether the service is here, healthy, and has that action. While it
 * runs: the caller's deadline, after which the handler's signal aborts and no answer is sent.
 *
 * Answers are kept a while (a small bounded cache keyed by caller and request id): a retry of
 * the same request to this node gets the same answer instead of running the action again, and a
 * retry that comes while the action still runs waits for it (its deadline extends the wait). The
 * cache is split by caller, each with its own bound, so one caller's calls never push out
 * another's answer (whose retry would then run a non-idempotent action twice).
 * @module
 */

import { ServiceError } from "./errors.ts";
import type { CallerLimits } from "./caller_limits.ts";
import type { CallContext, LocalServices, ResolvedAction } from "./local.ts";
import type { ServiceStats } from "./stats.ts";
import type { CallVerdict } from "../policy/calls.ts";
import { type Answer, type RequestMessage, type ResponseMessage, valueProblem } from "./wire.ts";

/** What the server works with. */
export interface ServiceServerDeps {
  /** The services provided here. */
  local: LocalServices;
  /** The callers' limits. */
  limits: CallerLimits;
  /** The figures. */
  stats: ServiceStats;
  /** Sends an answer; throws a `too-large` {@link ServiceError} when it is over the limit. */
  send: (address: string, msg: ResponseMessage) => void;
  /** The member name at an overlay address, when one is there. */
  nameOf: (address: string) => string | null;
  /** Whether a service provided here passes its health check (default: every one does). */
  healthy?: (service: string) => boolean;
  /**
   * The policy's verdict on a call from `caller` (an overlay address; null for this node), made
   * before the action is looked up (see authorize.ts); without it every call is let through.
   */
  authorize?: (caller: string | null, service: string, action: string) => CallVerdict;
  /** This node's name, for error messages. */
  self?: string;
  /** The clock, ms. */
  now?: () => number;
}

/** The bounds of the answer cache. */
export interface ServiceServerOptions {
  /** Requests remembered per caller (running or answered). Default 256. */
  cacheSize?: number;
  /** Callers remembered at once (the least recent one with no call running goes). Default 1024. */
  maxCallers?: number;
  /** How long an answer is kept for retries, ms. Default 60000. */
  cacheTtlMs?: number;
}

interface Entry {
  readonly service: string;
  readonly action: string;
  readonly started: number;
  deadline: number;
  response: ResponseMessage | null;
  timer: ReturnType<typeof setTimeout> | undefined;
  readonly controller: AbortController;
  /** When an answered entry may be forgotten. */
  expires: number;
}

/** Runs requests against the services provided here; see the module docs. */
export class ServiceServer {
  readonly #d: ServiceServerDeps;
  readonly #now: () => number;
  readonly #cacheSize: number;
  readonly #maxCallers: number;
  readonly #cacheTtl: number;
  // Per caller, its requests by id; both in insertion order (callers by last call, requests
  // oldest first), for eviction.
  readonly #callers = new Map<string, Map<number, Entry>>();
  #closed = false;

  /** A server over `deps`. */
  constructor(deps: ServiceServerDeps, opts: ServiceServerOptions = {}) {
    this.#d = deps;
    this.#now = deps.now ?? (() => performance.now());
    this.#cacheSize = opts.cacheSize ?? 256;
    this.#maxCallers = opts.maxCallers ?? 1024;
    this.#cacheTtl = opts.cacheTtlMs ?? 60_000;
  }

  /** Requests running or remembered now. */
  get cached(): number {
    let n = 0;
    for (const m of this.#callers.values()) n += m.size;
    return n;
  }

  /** Handles a request from `from` (an overlay address); the answer is sent when there is one. */
  handle(req: RequestMessage, from: string): void {
    if (this.#closed) return;
    const now = this.#now();
    const known = this.#callers.get(from)?.get(req.id);
    if (known !== undefined) return this.#again(known, req, from, now);
    const reply = (r: Answer) => this.#send(from, { kind: "response", id: req.id, ...r });
    const refuse = (code: ServiceError["code"], message: string, idempotent = false) => {
      this.#d.stats.served(req.service, req.action, code, 0);
      reply({ ok: false, code, message, idempotent });
    };
    const service = this.#d.local.get(req.service);
    const where = this.#d.self ? ` on ${this.#d.self}` : "";
    if (service === undefined) {
      // Not recorded by name: any member could make up names without end.
      this.#d.stats.served("unknown", "unknown", "no-instance", 0);
      return reply({
        ok: false,
        code: "no-instance",
        message: `service ${req.service} is not provided${where}`,
        idempotent: false,
      });
    }
    if (this.#d.healthy && !this.#d.healthy(req.service)) {
      return refuse("no-instance", `service ${req.service}${where} is failing its health check`);
    }
    const denied = this.#denied(from, req.service, req.action, where);
    if (denied !== null) {
      // Counted under the action only when the service has it: names are the caller's to make up.
      const named = service.action(req.action) !== undefined ? req.action : "unknown";
      this.#d.stats.served(req.service, named, "forbidden", 0);
      return reply(denied);
    }
    const action = service.action(req.action);
    if (action === undefined) {
      const names = service.actionNames();
      this.#d.stats.served(req.service, "unknown", "bad-request", 0);
      return reply({
        ok: false,
        code: "bad-request",
        message: `service ${req.service} has no action ${req.action}` +
          (names ? ` (it has ${names.join(", ")})` : ""),
        idempotent: false,
      });
    }
    const refusal = this.#d.limits.admit(from);
    if (refusal !== null) {
      return refuse(
        "rate-limited",
        refusal === "rate"
          ? `too many calls from ${from}${where}: slow down`
          : `too many calls from ${from} at once${where}`,
        action.idempotent,
      );
    }
    const mine = this.#room(from, now);
    if (mine === null) {
      this.#d.limits.release(from);
      return refuse("rate-limited", `too many calls at once${where}`, action.idempotent);
    }
    const entry: Entry = {
      service: req.service,
      action: req.action,
      started: now,
      deadline: now + req.ttlMs,
      response: null,
      timer: undefined,
      controller: new AbortController(),
      expires: Infinity,
    };
    mine.set(req.id, entry);
    this.#arm(entry);
    const ctx: CallContext = {
      service: req.service,
      action: req.action,
      callerAddress: from,
      callerName: this.#d.nameOf(from),
      signal: entry.controller.signal,
      deadline: entry.deadline,
    };
    run(action, req.params, ctx).then((r) => {
      this.#d.limits.release(from);
      clearTimeout(entry.timer);
      const done = this.#now();
      entry.response = { kind: "response", id: req.id, ...r };
      entry.expires = done + this.#cacheTtl;
      // Aborted means the deadline passed (a timer may fire a millisecond before the clock says).
      const late = entry.controller.signal.aborted || done >= entry.deadline;
      const outcome = late ? "timeout" : r.ok ? "ok" : r.code;
      this.#d.stats.served(req.service, req.action, outcome, (done - entry.started) / 1000);
      if (!late) this.#send(from, entry.response);
    });
  }

  /**
   * Runs an action of a service provided here for a caller on this node (no limits, no cache):
   * the answer as a response message. `params` must already be a copy the caller cannot change.
   */
  async callLocal(
    service: string,
    actionName: string,
    params: unknown,
    ttlMs: number,
  ): Promise<Answer> {
    const s = this.#d.local.get(service);
    if (s === undefined) {
      return {
        ok: false,
        code: "no-instance",
        message: `${service} is not provided here`,
        idempotent: false,
      };
    }
    const denied = this.#denied(null, service, actionName, "");
    if (denied !== null) return denied;
    const action = s.action(actionName);
    if (action === undefined) {
      const names = s.actionNames();
      return {
        ok: false,
        code: "bad-request",
        message: `service ${service} has no action ${actionName}` +
          (names ? ` (it has ${names.join(", ")})` : ""),
        idempotent: false,
      };
    }
    const controller = new AbortController();
    const started = this.#now();
    const timer = setTimeout(
      () => controller.abort(new ServiceError("timeout", "the caller stopped waiting")),
      ttlMs,
    );
    try {
      const r = await run(action, params, {
        service,
        action: actionName,
        callerAddress: null,
        callerName: null,
        signal: controller.signal,
        deadline: started + ttlMs,
      });
      const done = this.#now();
      const outcome = done - started > ttlMs ? "timeout" : r.ok ? "ok" : r.code;
      this.#d.stats.served(service, actionName, outcome, (done - started) / 1000);
      return r;
    } finally {
      clearTimeout(timer);
    }
  }

  /** The refusal of a call the policy does not let `caller` make, or null when it may. */
  #denied(caller: string | null, service: string, action: string, where: string): Answer | null {
    const v = this.#d.authorize?.(caller, service, action);
    if (v === undefined || v.allowed) return null;
    return {
      ok: false,
      code: "forbidden",
      message: `call to ${service}/${action} refused${where}: ${v.reason}`,
      idempotent: false,
    };
  }

  /** Aborts the handlers running and forgets every answer. */
  close(): void {
    this.#closed = true;
    for (const m of this.#callers.values()) {
      for (const e of m.values()) {
        clearTimeout(e.timer);
        if (e.response === null) e.controller.abort(new ServiceError("timeout", "shutting down"));
      }
    }
    this.#callers.clear();
  }

  /** A request seen before: answer it again, or wait with it for the running handler. */
  #again(e: Entry, req: RequestMessage, from: string, now: number): void {
    if (e.response !== null) {
      this.#send(from, e.response);
      return;
    }
    const deadline = now + req.ttlMs;
    if (deadline > e.deadline) {
      e.deadline = deadline;
      clearTimeout(e.timer);
      this.#arm(e);
    }
  }

  /** Aborts the handler's signal at its deadline. */
  #arm(e: Entry): void {
    e.timer = setTimeout(
      () => e.controller.abort(new ServiceError("timeout", "the caller stopped waiting")),
      Math.max(0, e.deadline - this.#now()),
    );
  }

  /**
   * The caller's part of the cache with room for one more request: its expired answers are
   * forgotten, then its oldest; a new caller may push out the least recent caller with nothing
   * running. Null when there is no room (all its remembered requests still run).
   */
  #room(from: string, now: number): Map<number, Entry> | null {
    let mine = this.#callers.get(from);
    if (mine === undefined) {
      if (this.#callers.size >= this.#maxCallers && !this.#dropIdleCaller()) return null;
      mine = new Map();
    } else {
      this.#callers.delete(from);
    }
    // Most recent caller last.
    this.#callers.set(from, mine);
    // From the oldest, as far as they have expired (answers come in about the order asked).
    for (const [id, e] of mine) {
      if (e.expires > now) break;
      mine.delete(id);
    }
    if (mine.size < this.#cacheSize) return mine;
    for (const [id, e] of mine) {
      if (e.response !== null) {
        mine.delete(id);
        return mine;
      }
    }
    return null;
  }

  /** Forgets the least recent caller with no call running; false when every caller has one. */
  #dropIdleCaller(): boolean {
    for (const [caller, m] of this.#callers) {
      let running = false;
      for (const e of m.values()) running ||= e.response === null;
      if (running) continue;
      this.#callers.delete(caller);
      return true;
    }
    return false;
  }

  /** Sends an answer; one that cannot go (too large, not encodable) is replaced by an error. */
  #send(to: string, msg: ResponseMessage): void {
    if (this.#closed) return;
    try {
      this.#d.send(to, msg);
    } catch (e) {
      const large = e instanceof ServiceError && e.code === "too-large";
      try {
        this.#d.send(to, {
          kind: "response",
          id: msg.id,
          ok: false,
          code: large ? "too-large" : "remote-error",
          message: `the answer cannot be sent: ${e instanceof Error ? e.message : String(e)}`,
          idempotent: msg.idempotent,
        });
      } catch {
        // Nothing more can be said: the caller times out.
      }
    }
  }
}

/** Runs a handler: its answer, or its failure as an error answer; never rejects. */
async function run(
  action: ResolvedAction,
  params: unknown,
  ctx: CallContext,
): Promise<Answer> {
  const idempotent = action.idempotent;
  try {
    const result = await action.handler(params, ctx);
    const p = valueProblem(result);
    if (p !== undefined) {
      return {
        ok: false,
        code: "remote-error",
        message: `the answer of ${ctx.service}/${ctx.action} cannot be sent: ${p}`,
        idempotent,
      };
    }
    return { ok: true, result, idempotent };
  } catch (e) {
    if (e instanceof ServiceError) {
      return {
        ok: false,
        code: e.code,
        message: e.message,
        idempotent,
        ...(e.status !== undefined ? { status: e.status } : {}),
      };
    }
    return {
      ok: false,
      code: "remote-error",
      message: e instanceof Error ? e.message : String(e),
      idempotent,
    };
  }
}
