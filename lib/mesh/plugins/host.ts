/**
 * One plugin, run: its module in a Deno worker holding only the permissions the operator granted
 * (and read access to the module itself, to load it), its service calls made on the agent's
 * service layer, and the calls of the services it provides handed to it.
 *
 * The agent trusts none of it. A worker runs on its own thread, so a plugin that loops forever
 * blocks only itself: the host pings it and one that does not answer in time is stopped, as is
 * one that throws where nothing catches it, sends a message of the wrong shape, or sends more
 * messages than the agent takes. A stopped plugin's services are withdrawn, its subscriptions
 * end, the calls it was running fail; the agent logs why and `/status` shows it. Each message
 * it sends costs a token of a budget (flooding fails it), and at most {@link MAX_IN_FLIGHT} of
 * its requests and publishes, and {@link MAX_SUBSCRIPTIONS} subscriptions, run at once.
 * @module
 */

import { basename, extname } from "node:path";
import { pathToFileURL } from "node:url";
import type { PluginSpec } from "../../config/plugins.ts";
import type { Logger } from "../../log/logger.ts";
import { refilled } from "../../protocol/ratelimiter.ts";
import { isServiceErrorCode, ServiceError } from "../../services/errors.ts";
import type { CallContext, ProvidedService, ServiceActions } from "../../services/local.ts";
import type { MeshServices } from "../../services/mesh_services.ts";
import type { PublishMode } from "../../services/pubsub.ts";
import type { Subscription } from "../../services/subscription.ts";
import type { PluginStatus } from "../../status/status.ts";
import {
  type FromPlugin,
  parseFromPlugin,
  type ToPlugin,
  type WireError,
  wireError,
} from "./protocol.ts";

/** The timing of a plugin's supervision; every field has a default. */
export interface PluginTiming {
  /** How long its default export may take to return, ms. Default 30000. */
  startMs: number;
  /** How often it is pinged, ms. Default 1000. */
  pingIntervalMs: number;
  /** How long a ping may go unanswered before it counts as hung, ms. Default 10000. */
  pingTimeoutMs: number;
}

/** The defaults of {@link PluginTiming}. */
export const DEFAULT_PLUGIN_TIMING: PluginTiming = {
  startMs: 30_000,
  pingIntervalMs: 1_000,
  pingTimeoutMs: 10_000,
};

/** Requests and publishes of one plugin waiting for their outcome at once, at most. */
export const MAX_IN_FLIGHT = 256;
/** Subscriptions of one plugin, at most. */
export const MAX_SUBSCRIPTIONS = 64;
/** Events sent to a plugin and not yet taken by it, per subscription, at most. */
const EVENT_WINDOW = 64;
/** Messages a plugin may send: a second's worth, and a burst. */
const MESSAGES_PER_SECOND = 10_000;
const MESSAGE_BURST = 20_000;

/** The services a plugin reaches: the agent's service layer. */
export type PluginServiceLayer = Pick<
  MeshServices,
  "provide" | "request" | "publish" | "subscribe"
>;

/** What a plugin host works with. */
export interface PluginHostDeps {
  /** The agent's service layer. */
  services: PluginServiceLayer;
  /** The logger. */
  logger: Logger;
  /** The worker's entry; default worker.ts beside this module. */
  workerUrl?: URL;
  /** Supervision timing. */
  timing?: Partial<PluginTiming>;
  /** The plugin's message budget: a second's worth and a burst (default 10,000 and 20,000). */
  messages?: { perSecond: number; burst: number };
}

/** A subscription made for the plugin, and how many events it may still be sent. */
interface HostSub {
  sub: Subscription;
  credit: number;
  wake: (() => void) | null;
}

/** A plugin's name: its file's, without the extension. */
export function pluginName(path: string): string {
  return basename(path, extname(path));
}

/** The worker's permissions: what `spec` grants, and reading the module itself. */
export function workerPermissions(spec: PluginSpec): Deno.PermissionOptionsObject {
  const p = spec.permissions;
  const read = p.read === true ? true : [spec.path, ...(p.read ?? [])];
  return {
    read,
    write: p.write ?? false,
    net: p.net ?? false,
    env: p.env ?? false,
    sys: (p.sys ?? false) as Deno.PermissionOptionsObject["sys"],
    import: p.import ?? false,
    run: false,
    ffi: false,
  };
}

/** One plugin's worker and its supervision. */
export class PluginHost {
  /** The plugin's name. */
  readonly name: string;
  readonly #spec: PluginSpec;
  readonly #d: PluginHostDeps;
  readonly #timing: PluginTiming;
  #worker: Worker | null = null;
  #state: PluginStatus["state"] = "starting";
  #error: string | undefined;
  #failures = 0;
  #calls = 0;
  #callErrors = 0;
  readonly #offers = new Map<string, ProvidedService>();
  readonly #subs = new Map<number, HostSub>();
  readonly #calling = new Map<number, { resolve(v: unknown): void; reject(e: Error): void }>();
  #nextCall = 1;
  #inFlight = 0;
  readonly #perSecond: number;
  readonly #burst: number;
  #tokens: number;
  #refilled = performance.now();
  #pingTimer: ReturnType<typeof setInterval> | undefined;
  #pingSent: number | null = null;
  #pingN = 0;
  #started: { resolve(): void; reject(e: Error): void } | null = null;

  /** A host for the plugin `spec` names; `start` runs it. */
  constructor(spec: PluginSpec, deps: PluginHostDeps) {
    this.#spec = spec;
    this.#d = deps;
    this.name = pluginName(spec.path);
    this.#timing = { ...DEFAULT_PLUGIN_TIMING, ...deps.timing };
    this.#perSecond = deps.messages?.perSecond ?? MESSAGES_PER_SECOND;
    this.#burst = deps.messages?.burst ?? MESSAGE_BURST;
    this.#tokens = this.#burst;
  }

  /** The state, for `/status`. */
  status(): PluginStatus {
    return {
      name: this.name,
      path: this.#spec.path,
      state: this.#state,
      offers: [...this.#offers.keys()].sort(),
      subscriptions: this.#subs.size,
      calls: this.#calls,
      callErrors: this.#callErrors,
      failures: this.#failures,
      ...(this.#error !== undefined ? { error: this.#error } : {}),
    };
  }

  /**
   * Loads the plugin and runs its default export; resolves once that returned and its services
   * are provided. Rejects, the worker stopped, when the module cannot be read or loaded, its
   * default export throws or takes longer than the start allows, or the services it provides
   * are refused.
   */
  async start(): Promise<void> {
    const where = `plugin ${this.name} (${this.#spec.path})`;
    try {
      const info = await Deno.stat(this.#spec.path);
      if (!info.isFile) throw new Error("not a file");
    } catch (e) {
      throw new Error(`${where}: cannot read the module: ${e instanceof Error ? e.message : e}`);
    }
    if (this.#state !== "starting") throw new Error(`${where}: stopped while starting`);
    let worker: Worker;
    try {
      worker = new Worker(this.#d.workerUrl ?? new URL("./worker.ts", import.meta.url), {
        type: "module",
        name: `weft-plugin-${this.name}`,
        // Worker permissions are an unstable Deno option (`--unstable-worker-options`).
        deno: { permissions: workerPermissions(this.#spec) },
      } as WorkerOptions);
    } catch (e) {
      throw new Error(
        `${where}: cannot start its worker (Deno needs --unstable-worker-options): ${
          e instanceof Error ? e.message : e
        }`,
      );
    }
    this.#worker = worker;
    worker.onmessage = (ev) => this.#message(ev.data);
    worker.onerror = (ev) => {
      // Handled here, the error stays in the worker: unhandled, it would end the agent.
      ev.preventDefault();
      this.#fail(`uncaught: ${ev.message}`);
    };
    worker.onmessageerror = () => this.#fail("a message that could not be read");
    const started = new Promise<void>((resolve, reject) => this.#started = { resolve, reject });
    const timer = setTimeout(
      () => this.#fail(`its default export did not return within ${this.#timing.startMs} ms`),
      this.#timing.startMs,
    );
    this.#post({ t: "start", url: pathToFileURL(this.#spec.path).href, name: this.name });
    try {
      await started;
    } catch (e) {
      throw new Error(`${where} failed to start: ${e instanceof Error ? e.message : e}`);
    } finally {
      clearTimeout(timer);
    }
    this.#pingTimer = setInterval(() => this.#tick(), this.#timing.pingIntervalMs);
    this.#d.logger.info("plugin running", { plugin: this.name, offers: this.status().offers });
  }

  /** Stops the plugin: its services are withdrawn, its subscriptions end. */
  close(): void {
    if (this.#state === "failed" || this.#state === "stopped") return;
    this.#state = "stopped";
    const why = new Error(`plugin ${this.name} stopped`);
    // Closed while starting (the agent's start failed elsewhere): the start ends with it.
    this.#started?.reject(why);
    this.#started = null;
    this.#stop(why);
  }

  /** Pings the plugin, and fails it when the last ping went unanswered too long. */
  #tick(): void {
    if (this.#state !== "running") return;
    const now = performance.now();
    if (this.#pingSent !== null) {
      if (now - this.#pingSent > this.#timing.pingTimeoutMs) {
        this.#fail(`no answer to a ping in ${this.#timing.pingTimeoutMs} ms (hung or exited)`);
      }
      return;
    }
    this.#pingSent = now;
    this.#post({ t: "ping", n: ++this.#pingN });
  }

  #post(m: ToPlugin): void {
    try {
      this.#worker?.postMessage(m);
    } catch (e) {
      // A value the plugin cannot be given (an event that does not copy): the plugin's loss.
      this.#d.logger.warn("a message to a plugin could not be sent", {
        plugin: this.name,
        error: String(e),
      });
    }
  }

  /** Takes a token of the plugin's message budget; false when it has none left. */
  #spend(): boolean {
    const now = performance.now();
    this.#tokens = refilled(
      this.#tokens,
      now - this.#refilled,
      this.#perSecond / 1000,
      this.#burst,
    );
    this.#refilled = now;
    if (this.#tokens < 1) return false;
    this.#tokens--;
    return true;
  }

  #message(data: unknown): void {
    if (this.#state === "failed" || this.#state === "stopped") return;
    if (!this.#spend()) {
      return this.#fail(`more than ${this.#perSecond} messages a second (flooding)`);
    }
    const m = parseFromPlugin(data);
    if (typeof m === "string") return this.#fail(`a bad message: ${m}`);
    switch (m.t) {
      case "ready":
        if (this.#state !== "starting") return this.#fail("a second ready");
        this.#state = "running";
        this.#started?.resolve();
        this.#started = null;
        return;
      case "fatal":
        return this.#fail(m.error.message);
      case "pong":
        if (m.n === this.#pingN) this.#pingSent = null;
        return;
      case "provide":
        return this.#provide(m);
      case "unprovide":
        this.#offers.get(m.name)?.close();
        this.#offers.delete(m.name);
        return;
      case "request":
        return this.#run(m.id, () => this.#d.services.request(m.path, m.params, m.opts));
      case "publish":
        return this.#run(
          m.id,
          () => this.#d.services.publish(m.topic, m.data, { mode: m.mode as PublishMode }),
        );
      case "subscribe":
        return this.#subscribe(m);
      case "unsubscribe": {
        const s = this.#subs.get(m.sub);
        this.#subs.delete(m.sub);
        s?.sub.close();
        s?.wake?.();
        return;
      }
      case "took": {
        const s = this.#subs.get(m.sub);
        if (!s) return;
        s.credit = Math.min(EVENT_WINDOW, s.credit + 1);
        s.wake?.();
        return;
      }
      case "answer": {
        const c = this.#calling.get(m.call);
        this.#calling.delete(m.call);
        if (m.ok) c?.resolve(m.value);
        else c?.reject(errorOf(m.error));
        return;
      }
    }
  }

  /** Runs a request or publish of the plugin and sends it the outcome. */
  #run(id: number, op: () => Promise<unknown>): void {
    if (this.#inFlight >= MAX_IN_FLIGHT) {
      return this.#result(id, {
        message: `plugin ${this.name}: more than ${MAX_IN_FLIGHT} requests and publishes at once`,
        code: "rate-limited",
      });
    }
    this.#inFlight++;
    let p: Promise<unknown>;
    try {
      p = op();
    } catch (e) {
      p = Promise.reject(e);
    }
    p.then(
      (value) => this.#result(id, null, value),
      (e) => this.#result(id, wireError(e)),
    ).finally(() => this.#inFlight--);
  }

  #result(id: number, error: WireError | null, value?: unknown): void {
    if (this.#state !== "running" && this.#state !== "starting") return;
    this.#post(
      error ? { t: "result", id, ok: false, error } : { t: "result", id, ok: true, value },
    );
  }

  #provide(m: Extract<FromPlugin, { t: "provide" }>): void {
    const actions: ServiceActions = {};
    for (const a of m.actions) {
      actions[a.name] = {
        handler: (params, ctx) => this.#call(m.name, a.name, params, ctx),
        idempotent: a.idempotent,
      };
    }
    try {
      if (this.#offers.has(m.name)) throw new Error(`the plugin provides ${m.name} already`);
      this.#offers.set(m.name, this.#d.services.provide(m.name, actions));
      this.#result(m.id, null, null);
    } catch (e) {
      this.#result(m.id, wireError(e));
    }
  }

  /** Hands a call of one of the plugin's services to it; its answer or error is the call's. */
  #call(service: string, action: string, params: unknown, ctx: CallContext): Promise<unknown> {
    if (this.#state !== "running") {
      return Promise.reject(new Error(`plugin ${this.name} is ${this.#state}`));
    }
    const call = this.#nextCall++;
    this.#calls++;
    return new Promise<unknown>((resolve, reject) => {
      const onAbort = () => {
        this.#calling.delete(call);
        this.#post({ t: "cancel", call });
        reject(new ServiceError("timeout", `plugin ${this.name} did not answer in time`));
      };
      ctx.signal.addEventListener("abort", onAbort, { once: true });
      const done = () => ctx.signal.removeEventListener("abort", onAbort);
      this.#calling.set(call, {
        resolve: (v) => {
          done();
          resolve(v);
        },
        reject: (e) => {
          done();
          reject(e);
        },
      });
      this.#post({
        t: "call",
        call,
        service,
        action,
        params,
        callerAddress: ctx.callerAddress,
        callerName: ctx.callerName,
        remainingMs: Math.max(0, Math.round(ctx.deadline - performance.now())),
      });
    }).catch((e) => {
      this.#callErrors++;
      throw e;
    });
  }

  #subscribe(m: Extract<FromPlugin, { t: "subscribe" }>): void {
    if (this.#subs.size >= MAX_SUBSCRIPTIONS || this.#subs.has(m.sub)) {
      return this.#result(m.id, {
        message: `plugin ${this.name}: at most ${MAX_SUBSCRIPTIONS} subscriptions`,
        code: "bad-request",
      });
    }
    let sub: Subscription;
    try {
      sub = this.#d.services.subscribe(m.pattern, {
        ...(m.group !== undefined ? { group: m.group } : {}),
        ...(m.maxQueue !== undefined ? { maxQueue: m.maxQueue } : {}),
      });
    } catch (e) {
      return this.#result(m.id, wireError(e));
    }
    const s: HostSub = { sub, credit: EVENT_WINDOW, wake: null };
    this.#subs.set(m.sub, s);
    sub.announced.then(
      (r) => this.#result(m.id, null, r),
      (e) => this.#result(m.id, wireError(e)),
    );
    void this.#pump(m.sub, s);
  }

  /**
   * Sends a subscription's events to the plugin, at most a window ahead of what it took: past
   * that they wait in the subscription's own queue, which drops (and counts) the excess.
   */
  async #pump(id: number, s: HostSub): Promise<void> {
    const it = s.sub[Symbol.asyncIterator]();
    while (this.#subs.get(id) === s) {
      while (s.credit <= 0 && this.#subs.get(id) === s) {
        await new Promise<void>((r) => s.wake = r);
        s.wake = null;
      }
      if (this.#subs.get(id) !== s) break;
      const r = await it.next();
      if (r.done) break;
      if (this.#subs.get(id) !== s) break;
      s.credit--;
      this.#post({ t: "event", sub: id, event: r.value });
    }
    if (this.#subs.get(id) === s) {
      this.#subs.delete(id);
      this.#post({ t: "ended", sub: id });
    }
  }

  /** The plugin failed: it is stopped, and the agent goes on without it. */
  #fail(reason: string): void {
    if (this.#state === "failed" || this.#state === "stopped") return;
    const starting = this.#state === "starting";
    this.#state = "failed";
    this.#error = reason;
    this.#failures++;
    const e = new Error(reason);
    if (starting) this.#started?.reject(e);
    else this.#d.logger.error("plugin failed", { plugin: this.name, reason });
    this.#started = null;
    this.#stop(new Error(`plugin ${this.name} failed: ${reason}`));
  }

  /** Ends the worker and everything it held. */
  #stop(why: Error): void {
    clearInterval(this.#pingTimer);
    this.#worker?.terminate();
    for (const o of this.#offers.values()) o.close();
    this.#offers.clear();
    for (const s of this.#subs.values()) {
      s.sub.close();
      s.wake?.();
    }
    this.#subs.clear();
    for (const c of this.#calling.values()) c.reject(why);
    this.#calling.clear();
  }
}

function errorOf(e: WireError): Error {
  if (e.code !== undefined && isServiceErrorCode(e.code)) {
    return new ServiceError(e.code, e.message, e.status !== undefined ? { status: e.status } : {});
  }
  return new Error(e.message);
}
