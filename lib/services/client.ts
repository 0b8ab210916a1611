/**
 * Calling services: `request("svc/action", params)` goes to an instance of the service and
 * resolves with its answer, or rejects with a {@link ServiceError}.
 *
 * Which instance: this node's own, when it provides the service and it is healthy; otherwise the
 * healthy remote instances in turn (round-robin, one step per call). An instance that did not
 * answer in time is suspect (suspects.ts): out of the rotation, tried only after every other
 * instance, until it answers again, a call or the liveness ping {@link ServiceClient.tick} sends
 * suspects about every second. So calls move off a node that stopped at the first timeout, long
 * before its peers' health says it is down, and come back to it once it answers.
 *
 * Retries (`retries`, default 2): a refusal that says the action did not run (`no-instance`: the
 * node does not provide it, or its check fails; `rate-limited`) is always retried on the next
 * instance; a `timeout` or `remote-error` only when the action is idempotent, as the caller
 * says (`idempotent: true`) or as the instance's answers have said. `bad-request` and
 * `too-large` are final. Every attempt carries the call's id, so an instance asked twice answers
 * from its cache instead of running the action again, and a late answer to an earlier attempt
 * is taken. `timeoutMs` (default 5000) is per attempt.
 *
 * Backpressure: the bytes of requests in flight to one instance are bounded (inflight.ts); an
 * attempt that would pass the bound waits, within its timeout, for earlier calls to end.
 * @module
 */

import { ServiceError } from "./errors.ts";
import type { OutOfRotation, ServiceInstance } from "./instances.ts";
import type { ServiceStats } from "./stats.ts";
import { Suspects } from "./suspects.ts";
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
  /** The bound on bytes in flight to one instance (backpressure). */
  inflight?: InflightOptions;
}

interface Pending {
  readonly addresses: Set<string>;
  resolve: (a: Answer & { from: string }) => void;
}

type Target = { local: true } | { local: false; instance: ServiceInstance };

const MAX_LEARNED = 1024;

const OUT_WHY: Record<OutOfRotation, string> = {
  "node-down": "is down",
  "check-failing": "fails its health check",
  unanswered: "does not answer",
};

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
    p.resolve({ ...msg, from });
  }

  /** Takes a pong: the suspect it answers for is back in the rotation. */
  handlePong(id: number, from: string): void {
    if (!this.#suspects.answered(from, id)) this.strays++;
  }

  /** Pings the suspects that are due (about once a second each); forgets former members. */
  tick(): void {
    const isMember = this.#d.isMember;
    if (isMember) this.#suspects.retain(isMember);
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

  async #call(service: string, action: string, params: unknown, opts: RequestOptions) {
    const timeoutMs = opts.timeoutMs ?? this.#timeout;
    const retries = opts.retries ?? this.#retries;
    if (!(Number.isInteger(timeoutMs) && timeoutMs >= 1 && timeoutMs <= MAX_TTL_MS)) {
      throw new ServiceError("bad-request", `timeoutMs must be 1 to ${MAX_TTL_MS}`);
    }
    if (!(Number.isInteger(retries) && retries >= 0 && retries <= 16)) {
      throw new ServiceError("bad-request", "retries must be 0 to 16");
    }
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
    const tried = new Set<string>();
    const pending: Pending = { addresses: new Set(), resolve: () => {} };
    this.#pending.set(id, pending);
    let last: ServiceError | null = null;
    try {
      for (let attempt = 0; attempt <= retries; attempt++) {
        // After every instance said it does not provide the service, asking again is no use.
        const again = last?.code !== "no-instance";
        const target = this.#pick(service, turn, tried, again);
        if (target === null) break;
        const answer = target.local
          ? await this.#local(req)
          : await this.#remote(req, target.instance, pending);
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
        const safe = answer.code === "no-instance" || answer.code === "rate-limited";
        const idempotent = opts.idempotent === true || this.#learned.get(key) === true;
        if (!safe && !idempotent) throw last;
      }
    } finally {
      this.#pending.delete(id);
    }
    throw last ?? this.#noInstance(service, action);
  }

  /** The next instance to try: this node's first, then the healthy remote ones in turn. */
  #pick(service: string, turn: number, tried: Set<string>, again: boolean): Target | null {
    const order: Target[] = [];
    if (this.#d.localReady(service)) order.push({ local: true });
    // Suspects are out of the rotation (their instances may say so: `unanswered`), but still
    // tried once every other instance was: better a call that may time out than none.
    const remote = this.#d.instances(service).filter((i) =>
      i.rpc && !i.local && (i.healthy || i.reason === "unanswered")
    );
    const fresh: ServiceInstance[] = [];
    const suspect: ServiceInstance[] = [];
    for (const i of remote) (this.#suspects.has(i.address) ? suspect : fresh).push(i);
    const rotate = (list: ServiceInstance[]) => {
      const k = list.length ? turn % list.length : 0;
      return [...list.slice(k), ...list.slice(0, k)];
    };
    for (const i of [...rotate(fresh), ...rotate(suspect)]) {
      order.push({ local: false, instance: i });
    }
    if (order.length === 0) return null;
    const keyOf = (t: Target) => (t.local ? "" : t.instance.address);
    const next = order.find((t) => !tried.has(keyOf(t)));
    if (next !== undefined) {
      tried.add(keyOf(next));
      return next;
    }
    // Every instance was tried: start over (the same id, so none runs the action twice).
    if (!again) return null;
    tried.clear();
    tried.add(keyOf(order[0]));
    return order[0];
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
          : `no room within ${req.ttlMs} ms: ${this.inflight.inFlight(inst.address)} bytes ` +
            `in flight to ${inst.node}, at most ${this.inflight.maxBytes}`,
        idempotent: false,
        unheard: true,
      };
    }
    const left = Math.max(1, Math.round(req.ttlMs - (this.#now() - started)));
    try {
      return await this.#send(left === req.ttlMs ? req : { ...req, ttlMs: left }, inst, p);
    } finally {
      release();
    }
  }

  /** The instance's answer, or one made up here (`unheard`: a timeout, a send that failed). */
  #send(
    req: RequestMessage,
    inst: ServiceInstance,
    p: Pending,
  ): Promise<Answer | (Answer & { unheard: true })> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.#suspects.mark(inst.address);
        resolve({
          ok: false,
          code: "timeout",
          message: `no answer from ${inst.node} within ${req.ttlMs} ms`,
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
