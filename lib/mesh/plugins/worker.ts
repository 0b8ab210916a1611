/**
 * The entry of a plugin's worker (host.ts starts it with the permissions granted): its first
 * message names the plugin's module, which it imports, and calls the default export with the
 * service API of api.ts, each call a message to the host, which makes it on the agent's service
 * layer. It says `ready` once the default export returned and the agent took the services it
 * provided, or `fatal` with the reason it could not start.
 * @module
 */

import { isServiceErrorCode, ServiceError } from "../../services/errors.ts";
import type { RequestOptions } from "../../services/client.ts";
import { type CallContext, type ServiceActions, serviceOf } from "../../services/local.ts";
import type { PublishOptions, PublishResult } from "../../services/pubsub.ts";
import type {
  AnnounceResult,
  ServiceEvent,
  SubscribeOptions,
} from "../../services/subscription.ts";
import type { PluginMesh, PluginServices, PluginSubscription } from "./api.ts";
import { type FromPlugin, type ToPlugin, type WireError, wireError } from "./protocol.ts";

/**
 * The worker global as used here (typed by hand: a `deno.worker` lib reference would retype
 * `self` for every module type-checked with this one).
 */
const scope = self as unknown as {
  onmessage: ((ev: MessageEvent<ToPlugin>) => void) | null;
  postMessage(message: unknown): void;
};

const send = (m: FromPlugin) => scope.postMessage(m);

// Requests, publishes, provides and subscribes waiting for the host's result.
const pending = new Map<number, { resolve(v: unknown): void; reject(e: Error): void }>();
let nextId = 1;
const actions = new Map<string, ServiceActions>();
const running = new Map<number, AbortController>();
const subs = new Map<number, Sub>();
// Provides made during the start: `ready` waits for the agent to take them.
const starting: Promise<unknown>[] = [];

function ask(m: FromPlugin & { id: number }): Promise<unknown> {
  return new Promise((resolve, reject) => {
    pending.set(m.id, { resolve, reject });
    send(m);
  });
}

function errorOf(e: WireError): Error {
  if (e.code !== undefined && isServiceErrorCode(e.code)) {
    return new ServiceError(e.code, e.message, e.status !== undefined ? { status: e.status } : {});
  }
  return new Error(e.message);
}

/** A subscription's events as they come from the host, read with `for await`. */
class Sub implements PluginSubscription {
  readonly pattern: string;
  readonly announced: Promise<AnnounceResult>;
  readonly #id: number;
  readonly #queue: ServiceEvent[] = [];
  #wake: ((r: IteratorResult<ServiceEvent>) => void) | null = null;
  #done = false;

  constructor(id: number, pattern: string, announced: Promise<AnnounceResult>) {
    this.#id = id;
    this.pattern = pattern;
    this.announced = announced;
  }

  push(ev: ServiceEvent): void {
    if (this.#done) return;
    if (this.#wake) {
      const w = this.#wake;
      this.#wake = null;
      send({ t: "took", sub: this.#id });
      w({ value: ev, done: false });
    } else this.#queue.push(ev);
  }

  end(): void {
    this.#done = true;
    subs.delete(this.#id);
    this.#wake?.({ value: undefined, done: true });
    this.#wake = null;
  }

  close(): void {
    if (this.#done) return;
    this.end();
    send({ t: "unsubscribe", sub: this.#id });
  }

  [Symbol.asyncIterator](): AsyncIterator<ServiceEvent> {
    return {
      next: () => {
        const ev = this.#queue.shift();
        if (ev !== undefined) {
          send({ t: "took", sub: this.#id });
          return Promise.resolve({ value: ev, done: false });
        }
        if (this.#done) return Promise.resolve({ value: undefined, done: true });
        return new Promise((r) => this.#wake = r);
      },
      return: () => {
        this.close();
        return Promise.resolve({ value: undefined, done: true });
      },
    };
  }
}

const services: PluginServices = {
  provide(name: string, given: ServiceActions) {
    // The same checks as the library's, here, so a mistake throws where it was made.
    const service = serviceOf(name, given);
    const list = (service.actionNames() ?? []).map((a) => ({
      name: a,
      idempotent: service.action(a)!.idempotent,
    }));
    actions.set(name, given);
    const taken = ask({ t: "provide", id: nextId++, name, actions: list });
    starting.push(taken);
    taken.catch(() => actions.delete(name));
    let open = true;
    return {
      name,
      close: () => {
        if (!open) return;
        open = false;
        actions.delete(name);
        send({ t: "unprovide", name });
      },
    };
  },
  request(path: string, params?: unknown, opts: RequestOptions = {}) {
    return ask({ t: "request", id: nextId++, path, params, opts: { ...opts } });
  },
  async publish(topic: string, data: unknown, opts: PublishOptions = {}) {
    const r = await ask({
      t: "publish",
      id: nextId++,
      topic,
      data,
      ...(opts.mode ? { mode: opts.mode } : {}),
    });
    return r as PublishResult;
  },
  subscribe(pattern: string, opts: SubscribeOptions = {}) {
    const sub = nextId++;
    const announced = ask({
      t: "subscribe",
      id: nextId++,
      sub,
      pattern,
      ...(opts.group !== undefined ? { group: opts.group } : {}),
      ...(opts.maxQueue !== undefined ? { maxQueue: opts.maxQueue } : {}),
    }) as Promise<AnnounceResult>;
    const s = new Sub(sub, pattern, announced);
    subs.set(sub, s);
    announced.catch(() => s.end());
    return s;
  },
};

/** Runs an action of a provided service and answers the host. */
async function run(m: Extract<ToPlugin, { t: "call" }>): Promise<void> {
  const abort = new AbortController();
  running.set(m.call, abort);
  const timer = setTimeout(() => abort.abort(), Math.max(0, m.remainingMs));
  try {
    const given = actions.get(m.service)?.[m.action];
    const handler = typeof given === "function" ? given : given?.handler;
    if (typeof handler !== "function") {
      throw new ServiceError("bad-request", `no action ${m.action} in ${m.service}`);
    }
    const ctx: CallContext = {
      service: m.service,
      action: m.action,
      callerAddress: m.callerAddress,
      callerName: m.callerName,
      signal: abort.signal,
      deadline: performance.now() + m.remainingMs,
    };
    const value = await handler(m.params, ctx);
    try {
      send({ t: "answer", call: m.call, ok: true, value });
    } catch (e) {
      // An answer that cannot be copied (a function, say).
      send({ t: "answer", call: m.call, ok: false, error: wireError(e) });
    }
  } catch (e) {
    send({ t: "answer", call: m.call, ok: false, error: wireError(e) });
  } finally {
    clearTimeout(timer);
    running.delete(m.call);
  }
}

async function start(url: string, name: string): Promise<void> {
  try {
    const mod = await import(url);
    if (typeof mod.default !== "function") {
      throw new Error("the module's default export is not a function (a Plugin)");
    }
    const mesh: PluginMesh = { name, services };
    await mod.default(mesh);
    await Promise.all(starting);
    starting.length = 0;
    send({ t: "ready" });
  } catch (e) {
    send({ t: "fatal", error: wireError(e) });
  }
}

scope.onmessage = (ev: MessageEvent<ToPlugin>) => {
  const m = ev.data;
  switch (m.t) {
    case "start":
      void start(m.url, m.name);
      break;
    case "result": {
      const p = pending.get(m.id);
      pending.delete(m.id);
      if (m.ok) p?.resolve(m.value);
      else p?.reject(errorOf(m.error));
      break;
    }
    case "call":
      void run(m);
      break;
    case "cancel":
      running.get(m.call)?.abort();
      break;
    case "event":
      subs.get(m.sub)?.push(m.event as ServiceEvent);
      break;
    case "ended":
      subs.get(m.sub)?.end();
      break;
    case "ping":
      send({ t: "pong", n: m.n });
      break;
  }
};
