/**
 * Calling services: `request("svc/action", params)` goes to an instance of the service and
 * resolves with its answer, or rejects with a {@link ServiceError}.
 *
 * Which instance (balancer.ts): this node's own, when it provides the service, is healthy and
 * not ejected; otherwise the healthy remote instances with the fewest of this node's calls still
 * waiting (equal counts in turn). An instance that did not answer in time is suspect
 * (suspects.ts): out of the rotation, tried only after every other instance, until it answers
 * again, a call or the liveness ping {@link ServiceClient.tick} sends suspects about every second.
 * So calls move off a node that stopped at the first timeout, long before its peers' health says
 * it is down, and come back to it once it answers. An instance that fails calls repeatedly (five
 * `timeout` or `remote-error` in a row) is ejected (outliers.ts): out of the rotation for a
 * back-off (30 s, doubling up to 5 min), then probed back with one call.
 *
 * Retries (`retries`, default 2): a refusal that says the action did not run (`no-instance`: the
 * node does not provide it, or its check fails; `rate-limited`) is retried on the next
 * instance; a `timeout` or `remote-error` only when the action is idempotent, as the caller
 * says (`idempotent: true`) or as the instance's answers have said. `bad-request` and
 * `too-large` are final. Every retry but those after `no-instance` is taken from the service's
 * retry budget (retry_budget.ts: 20% of the calls of the last 10 s, plus 10): past it, the call
 * fails with its last error instead of adding load to failing instances. Every attempt carries
 * the call's id, so an instance asked twice answers from its cache instead of running the action
 * again, and a late success of an earlier attempt is taken (a late failure is counted against its
 * instance, but the attempt waiting on another goes on). A retry goes to an instance not yet
 * tried; once every one was, only to those whose answer did not come (a lost datagram, a slow
 * node), never back to one that failed the call: it would only repeat its failure. A call ends
 * when an instance answers, when every instance failed it, or when its retries or deadline run out.
 *
 * Deadlines: `timeoutMs` (default 5000) bounds each attempt, `deadlineMs` (default `timeoutMs` ×
 * (retries + 1)) the whole call. Each attempt tells the callee the time left (`ttlMs`, the
 * smaller of the two), and the callee aborts the handler's signal past it and sends no answer.
 *
 * Backpressure: the bytes of requests in flight to one instance are bounded (inflight.ts); an
 * attempt that would pass the bound waits, within its timeout, for earlier calls to end.
 * @module
 */

import { ServiceError } from "./errors.ts";
import type { OutOfRotation, ServiceInstance } from "./instances.ts";
import type { ServiceStats } from "./stats.ts";
import { Suspects } from "./suspects.ts";
import { balance, type Candidate } from "./balancer.ts";
import { type Ejection, Outliers, type OutliersOptions } from "./outliers.ts";
import { RetryBudget, type RetryBudgetOptions } from "./retry_budget.ts";
import { InflightBytes, type InflightOptions } from "./inflight.ts";
import {
  actionNameProblem,
  type Answer,
  decodeMessage,
  encodeMessage,
  MAX_TTL_MS,
  type RequestMessage,
  type ResponseMessage,
  valueProblem,
} from "./wire.ts";
import { serviceNameProblem } from "../members/services.ts";

/** How one call is made. */
export interface RequestOptions {
  /** How long each attempt waits for an answer, ms. Default 5000. */
  timeoutMs?: number;
  /** How long the whole call may take, retries included, ms. Default `timeoutMs` × (retries + 1). */
  deadlineMs?: number;
  /** Further attempts allowed (see the module docs for when). Default 2. */
  retries?: number;
  /** The action is safe to run twice: timeouts and remote errors may be retried elsewhere. */
  idempotent?: boolean;
}

/** What the client works with. */
export interface ServiceClientDeps {
  /** Sends a request; throws a `too-large` {@link ServiceError} when it is over the limit. */
  send: (address: string, msg: RequestMessage) => void;
  /** Sends a liveness ping (default: none are sent; suspects then wait for a call's answer). */
  ping?: (address: string, id: number) => void;
  /** Whether an overlay address is a member's (default: all are); suspects that are not are forgotten. */
  isMember?: (address: string) => boolean;
  /** True when this node provides `service` and its health check passes. */
  localReady: (service: string) => boolean;
  /** Runs a call on this node (the server's `callLocal`). */
  callLocal: (service: string, action: string, params: unknown, ttlMs: number) => Promise<Answer>;
  /** The service's instances as this node sees them now. */
  instances: (service: string) => ServiceInstance[];
  /** The figures. */
  stats: ServiceStats;
  /** The clock, ms. */
  now?: () => number;
}

/** The client's defaults. */
export interface ServiceClientOptions {
  /** Default per-attempt timeout, ms. Default 5000. */
  timeoutMs?: number;
  /** Default retries. Default 2. */
  retries?: number;
  /** How often an instance that timed out is pinged until it answers, ms. Default 1000. */
  pingIntervalMs?: number;
  /** Most suspects tracked. Default 256. */
  maxSuspects?: number;
  /** Outlier ejection (outliers.ts defaults). */
  outliers?: Omit<OutliersOptions, "now">;
  /** Each service's retry budget (retry_budget.ts defaults). */
  retryBudget?: Omit<RetryBudgetOptions, "now">;
  /** The bound on bytes in flight to one instance (backpressure). */
  inflight?: InflightOptions;
}

interface Pending {
  readonly addresses: Set<string>;
  /** The instance the attempt now waiting was sent to (`""`: this node's own). */
  current: string;
  resolve: (a: Answer & { from: string }) => void;
  /** Takes a failure answered to an earlier attempt: counted, but the call goes on. */
  earlier: (a: Answer & { from: string }) => void;
}

type Target = { local: true } | { local: false; instance: ServiceInstance };

const MAX_LEARNED = 1024;
/** Most services with a retry budget at once (past it, the budgets start over). */
const MAX_BUDGETS = 1024;
/** The outlier table's key of this node's own instance. */
const SELF = "";

const OUT_WHY: Record<OutOfRotation, string> = {
  "node-down": "is down",
  "check-failing": "fails its health check",
  unanswered: "does not answer",
  ejected: "failed its recent calls (ejected)",
};

/** Whether an answer says the instance ran the call and failed it (not a refusal before running). */
function ranAndFailed(a: Answer): boolean {
  return !a.ok && (a.code === "remote-error" || a.code === "timeout");
}

/**
 * Splits `svc/action`; throws a `bad-request` {@link ServiceError} naming what is wrong.
 *
 * @example
 * ```ts run
 * import { parseServicePath, ServiceError } from "@weft/weft/services";
 * console.log(parseServicePath("auth/login")); // prints: { service: "auth", action: "login" }
 * try {
 *   parseServicePath("auth");
 * } catch (e) {
 *   if (e instanceof ServiceError) console.log(e.code); // prints: bad-request
 * }
 * ```
 */
export function parseServicePath(path: string): { service: string; action: string } {
  const bad = (why: string) =>
    new ServiceError(
      "bad-request",
      `bad service path ${JSON.stringify(path.slice(0, 80))}: ${why}`,
    );
  if (typeof path !== "string") throw bad("expected SERVICE/ACTION");
  const slash = path.indexOf("/");
  if (slash < 0) throw bad("expected SERVICE/ACTION, as in auth/login");
  const service = path.slice(0, slash);
  const action = path.slice(slash + 1);
  const p = serviceNameProblem(service);
  if (p !== undefined) throw bad(`the service name ${p}`);
  const q = actionNameProblem(action);
  if (q !== undefined) throw bad(q);
  return { service, action };
}

/** Makes calls; see the module docs. */
export class ServiceClient {
  readonly #d: ServiceClientDeps;
  readonly #now: () => number;
  readonly #timeout: number;
  readonly #retries: number;
  readonly #pending = new Map<number, Pending>();
  readonly #turns = new Map<string, number>();
  readonly #suspects: Suspects;
  readonly #learned = new Map<string, boolean>();
  readonly #outliers: Outliers;
  readonly #budgets = new Map<string, RetryBudget>();
  readonly #budgetOpts: Omit<RetryBudgetOptions, "now">;
  /** Bytes of requests in flight per instance, and the calls that waited for them. */
  readonly inflight: InflightBytes;
  // Random start: ids from before a restart are unlikely to meet an instance's cache.
  #nextId = Math.floor(Math.random() * 2 ** 40);
  /** Answers that matched no call (late after the call ended, or from elsewhere). */
  strays = 0;

  /** A client over `deps`. */
  constructor(deps: ServiceClientDeps, opts: ServiceClientOptions = {}) {
    this.#d = deps;
    this.#now = deps.now ?? (() => performance.now());
    this.#timeout = opts.timeoutMs ?? 5000;
    this.#retries = opts.retries ?? 2;
    this.inflight = new InflightBytes(opts.inflight);
    this.#suspects = new Suspects({
      now: this.#now,
      pingIntervalMs: opts.pingIntervalMs,
      max: opts.maxSuspects,
    });
    this.#outliers = new Outliers({ ...opts.outliers, now: this.#now });
    this.#budgetOpts = opts.retryBudget ?? {};
    // Checked now, not at the first call.
    new RetryBudget({ ...this.#budgetOpts, now: this.#now });
  }

  /** Calls `path` (`service/action`) with `params`; see the module docs. */
  async request(path: string, params?: unknown, opts: RequestOptions = {}): Promise<unknown> {
    const started = this.#now();
    let service = "invalid";
    let action = "invalid";
    let outcome = "ok";
    try {
      ({ service, action } = parseServicePath(path));
      const r = await this.#call(service, action, params, opts);
      return r;
    } catch (e) {
      outcome = e instanceof ServiceError ? e.code : "remote-error";
      throw e;
    } finally {
      this.#d.stats.call(service, action, outcome, (this.#now() - started) / 1000);
    }
  }

  /** Takes an answer from `from`; answers that match no call are counted as strays. */
  handleResponse(msg: ResponseMessage, from: string): void {
    this.#suspects.clear(from);
    const p = this.#pending.get(msg.id);
    if (p === undefined || !p.addresses.has(from)) {
      this.strays++;
      return;
    }
    // An earlier attempt's success ends the call; its failure must not end the attempt now
    // waiting on another instance, which may still succeed (the earlier one was only slow).
    if (!msg.ok && from !== p.current) return p.earlier({ ...msg, from });
    p.resolve({ ...msg, from });
  }

  /** Takes a pong: the suspect it answers for is back in the rotation. */
  handlePong(id: number, from: string): void {
    if (!this.#suspects.answered(from, id)) this.strays++;
  }

  /** Pings the suspects that are due (about once a second each); forgets former members. */
  tick(): void {
    const isMember = this.#d.isMember;
    if (isMember) {
      this.#suspects.retain(isMember);
      this.#outliers.retain(isMember);
    }
    const ping = this.#d.ping;
    if (ping === undefined) return;
    for (const p of this.#suspects.due()) ping(p.address, p.id);
  }

  /**
   * The member at this overlay address said it is stopping (its bye): suspect at once, out of the
   * rotation until it answers a call or a ping again (after its restart), as after a timeout.
   */
  markGone(address: string): void {
    this.#suspects.mark(address);
  }

  /** Whether the instance at this overlay address is suspect (let a call time out, silent since). */
  isSuspect(address: string): boolean {
    return this.#suspects.has(address);
  }

  /** The suspect instances' overlay addresses, the oldest first. */
  suspects(): string[] {
    return this.#suspects.list();
  }

  /** Whether the instance of `service` at this overlay address is ejected now (outliers.ts). */
  isEjected(service: string, address: string): boolean {
    return this.#outliers.state(service, address) === "ejected";
  }

  /** The instances ejected or probing now (this node's own as address `""`). */
  ejections(): Ejection[] {
    return this.#outliers.list();
  }

  async #call(service: string, action: string, params: unknown, opts: RequestOptions) {
    const timeoutMs = opts.timeoutMs ?? this.#timeout;
    const retries = opts.retries ?? this.#retries;
    if (!(Number.isInteger(timeoutMs) && timeoutMs >= 1 && timeoutMs <= MAX_TTL_MS)) {
      throw new ServiceError("bad-request", `timeoutMs must be 1 to ${MAX_TTL_MS}`);
    }
    if (!(Number.isInteger(retries) && retries >= 0 && retries <= 16)) {
      throw new ServiceError("bad-request", "retries must be 0 to 16");
    }
    const deadlineMs = opts.deadlineMs ?? Math.min(MAX_TTL_MS, timeoutMs * (retries + 1));
    if (!(Number.isInteger(deadlineMs) && deadlineMs >= 1 && deadlineMs <= MAX_TTL_MS)) {
      throw new ServiceError("bad-request", `deadlineMs must be 1 to ${MAX_TTL_MS}`);
    }
    const deadline = this.#now() + deadlineMs;
    const problem = valueProblem(params);
    if (problem !== undefined) {
      throw new ServiceError("bad-request", `the params cannot be sent: ${problem}`, {
        service,
        action,
      });
    }
    const id = this.#nextId++;
    // No params travel as nil, as undefined would.
    const req: RequestMessage = {
      kind: "request",
      id,
      service,
      action,
      params: params ?? null,
      ttlMs: timeoutMs,
    };
    const key = `${service}/${action}`;
    const turn = this.#turns.get(service) ?? 0;
    this.#turns.set(service, turn + 1);
    const budget = this.#budget(service);
    budget.call();
    const tried = new Set<string>();
    // Instances that ran this call and failed it: asked again they would only repeat the answer
    // (a remote one from its cache), so a retry must go elsewhere.
    const failed = new Set<string>();
    const pending: Pending = {
      addresses: new Set(),
      current: "",
      resolve: () => {},
      earlier: (a) => {
        this.#judge(service, a.from, a);
        this.#learn(key, a.idempotent);
        if (ranAndFailed(a)) failed.add(a.from);
      },
    };
    this.#pending.set(id, pending);
    let last: ServiceError | null = null;
    try {
      for (let attempt = 0; attempt <= retries; attempt++) {
        // After every instance said it does not provide the service, asking again is no use.
        const again = last?.code !== "no-instance";
        const left = Math.ceil(deadline - this.#now());
        // The call's deadline passed: no attempt would have time to answer.
        if (last !== null && left < 1) break;
        const target = this.#pick(service, turn, tried, failed, again);
        if (target === null) break;
        if (last !== null) {
          // Instances that said they do not provide it did not run it: no load was added.
          if (last.code !== "no-instance" && !budget.tryRetry()) {
            this.#d.stats.resilience.budgetRefused(service);
            throw last;
          }
          this.#d.stats.resilience.retry(service);
        }
        const attemptReq = { ...req, ttlMs: Math.max(1, Math.min(timeoutMs, left)) };
        // A timeout names the caller's own figure: the call's on the first attempt (the callee is
        // told the few ms less that are left), what was left on a retry.
        const shownMs = attempt === 0 ? timeoutMs : attemptReq.ttlMs;
        const address = target.local ? SELF : target.instance.address;
        pending.current = address;
        this.#outliers.sent(service, address);
        const answer = target.local
          ? await this.#local(attemptReq)
          : await this.#remote(attemptReq, target.instance, pending, shownMs);
        // A late answer to an earlier attempt says how that instance did.
        const from = "from" in answer ? answer.from as string : address;
        this.#judge(service, from, answer);
        if (!("unheard" in answer) && ranAndFailed(answer)) failed.add(from);
        // What instances say of the action is remembered: a later timeout may then be retried.
        if (!("unheard" in answer)) this.#learn(key, answer.idempotent);
        if (answer.ok) return answer.result;
        const instance = target.local ? "this node" : target.instance.node;
        last = new ServiceError(answer.code, answer.message, {
          service,
          action,
          instance,
          ...(answer.status !== undefined ? { status: answer.status } : {}),
        });
        if (answer.code === "bad-request" || answer.code === "too-large") throw last;
        // The callee's policy refused this caller: another instance holds the same policy.
        if (answer.code === "forbidden") throw last;
        const safe = answer.code === "no-instance" || answer.code === "rate-limited";
        const idempotent = opts.idempotent === true || this.#learned.get(key) === true;
        if (!safe && !idempotent) throw last;
      }
    } finally {
      this.#pending.delete(id);
    }
    throw last ?? this.#noInstance(service, action);
  }

  /** Counts the attempt's outcome against the instance (outliers.ts). */
  #judge(service: string, address: string, answer: Answer): void {
    if (answer.ok) return this.#outliers.succeeded(service, address);
    if (answer.code === "timeout" || answer.code === "remote-error") {
      if (this.#outliers.failed(service, address)) this.#d.stats.resilience.ejected(service);
    } else {
      this.#outliers.neutral(service, address);
    }
  }

  /** The retry budget of `service`. */
  #budget(service: string): RetryBudget {
    let b = this.#budgets.get(service);
    if (b === undefined) {
      if (this.#budgets.size >= MAX_BUDGETS) this.#budgets.clear();
      b = new RetryBudget({ ...this.#budgetOpts, now: this.#now });
      this.#budgets.set(service, b);
    }
    return b;
  }

  /**
   * The next instance to try, in the balancer's order (balancer.ts): one not yet tried; once
   * every one was, the round starts over among those that did not fail the call (`failed`).
   */
  #pick(
    service: string,
    turn: number,
    tried: Set<string>,
    failed: ReadonlySet<string>,
    again: boolean,
  ): Target | null {
    const candidates: Candidate<Target>[] = [];
    if (this.#d.localReady(service)) {
      candidates.push({
        value: { local: true },
        local: true,
        available: this.#outliers.available(service, SELF),
        outstanding: 0,
      });
    }
    // Suspects and ejected instances are out of the rotation (their instances say so:
    // `unanswered`, `ejected`), but still tried once every other instance was: better a call
    // that may fail than none.
    for (const i of this.#d.instances(service)) {
      if (!i.rpc || i.local) continue;
      if (!(i.healthy || i.reason === "unanswered" || i.reason === "ejected")) continue;
      candidates.push({
        value: { local: false, instance: i },
        local: false,
        available: !this.#suspects.has(i.address) && this.#outliers.available(service, i.address),
        outstanding: this.inflight.calls(i.address),
      });
    }
    const order = balance(candidates, turn);
    if (order.length === 0) return null;
    const keyOf = (t: Target) => (t.local ? "" : t.instance.address);
    // One that failed the call is never asked again, even when first in the rotation and the
    // others are suspect: it would fail again, and the retry would be spent.
    const next = order.find((t) => !tried.has(keyOf(t)) && !failed.has(keyOf(t)));
    if (next !== undefined) {
      tried.add(keyOf(next));
      return next;
    }
    // Every instance was tried: start over (the same id, so none runs the action twice) with
    // those whose answer did not come (a lost datagram, a slow node: it may come now).
    if (!again) return null;
    const retry = order.find((t) => !failed.has(keyOf(t)));
    if (retry === undefined) return null;
    tried.clear();
    tried.add(keyOf(retry));
    return retry;
  }

  async #local(req: RequestMessage): Promise<Answer> {
    // Through the encoding, as a remote call would be: the handler gets a copy, and the size
    // limit is the same.
    const copy = decodeMessage(encodeMessage(req));
    if (copy === null || copy.kind !== "request") {
      return {
        ok: false,
        code: "bad-request",
        message: "the request cannot be encoded",
        idempotent: false,
      };
    }
    return await this.#d.callLocal(req.service, req.action, copy.params, req.ttlMs);
  }

  /** As {@link #send}, once the request's bytes fit the instance's window (backpressure). */
  async #remote(
    req: RequestMessage,
    inst: ServiceInstance,
    p: Pending,
    shownMs: number,
  ): Promise<Answer | (Answer & { unheard: true })> {
    const started = this.#now();
    const bytes = encodeMessage(req).length;
    const release = await this.inflight.acquire(inst.address, bytes, req.ttlMs);
    if (typeof release === "string") {
      const full = release === "queue-full";
      return {
        ok: false,
        code: full ? "rate-limited" : "timeout",
        message: full
          ? `too many calls waiting for ${inst.node}`
          : `no room within ${shownMs} ms: ${this.inflight.inFlight(inst.address)} bytes ` +
            `in flight to ${inst.node}, at most ${this.inflight.maxBytes}`,
        idempotent: false,
        unheard: true,
      };
    }
    const left = Math.max(1, Math.round(req.ttlMs - (this.#now() - started)));
    try {
      return await this.#send(left === req.ttlMs ? req : { ...req, ttlMs: left }, inst, p, shownMs);
    } finally {
      release();
    }
  }

  /** The instance's answer, or one made up here (`unheard`: a timeout, a send that failed). */
  #send(
    req: RequestMessage,
    inst: ServiceInstance,
    p: Pending,
    shownMs: number,
  ): Promise<Answer | (Answer & { unheard: true })> {
    return new Promise<Answer | (Answer & { unheard: true })>((resolve) => {
      const timer = setTimeout(() => {
        this.#suspects.mark(inst.address);
        resolve({
          ok: false,
          code: "timeout",
          message: `no answer from ${inst.node} within ${shownMs} ms`,
          idempotent: false,
          unheard: true,
        });
      }, req.ttlMs);
      p.resolve = (a) => {
        clearTimeout(timer);
        resolve(a);
      };
      p.addresses.add(inst.address);
      try {
        this.#d.send(inst.address, req);
      } catch (e) {
        clearTimeout(timer);
        const large = e instanceof ServiceError && e.code === "too-large";
        resolve({
          ok: false,
          code: large ? "too-large" : "bad-request",
          message: `the request cannot be sent: ${e instanceof Error ? e.message : String(e)}`,
          idempotent: false,
          unheard: true,
        });
      }
    });
  }

  #learn(key: string, idempotent: boolean): void {
    if (this.#learned.get(key) === idempotent) return;
    if (this.#learned.size >= MAX_LEARNED) this.#learned.clear();
    this.#learned.set(key, idempotent);
  }

  #noInstance(service: string, action: string): ServiceError {
    const all = this.#d.instances(service).filter((i) => i.rpc);
    const why = all.length === 0
      ? `no node provides ${service}`
      : `no healthy instance of ${service}: ` +
        all.map((i) => `${i.node} ${OUT_WHY[i.reason ?? "check-failing"]}`).join(", ");
    return new ServiceError("no-instance", why, { service, action });
  }
}
