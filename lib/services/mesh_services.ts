/**
 * The service layer of a mesh node, composed: the socket on the service port, the services
 * provided here (handlers and HTTP backends) and the server that runs their calls, the client
 * that makes calls, publish and subscribe, the health checks of local services, and what the
 * node announces in its member record (which services answer calls, which fail their check).
 *
 * A mesh agent makes one over its control stack and hands it the view, its health of the peers
 * and the service-leader leases; programs reach it as `mesh.services`, the whole service API
 * (calls, publish and subscribe, providing, health, the services' leaders and leases).
 *
 * The service port's traffic passes the network policy like any other UDP between members
 * (unlike the control port's): with a policy in force, members that call each other or publish
 * to each other need a rule allowing UDP 51823 between them, which also makes the policy the
 * place to say who may call whom.
 * @module
 */

import type { HealthState } from "../health/state.ts";
import type { Logger } from "../log/logger.ts";
import type { Member, MembershipView, ServiceSpec } from "../members/member.ts";
import { MAX_SERVICES } from "../members/services.ts";
import type { ServiceMetrics } from "./metrics.ts";
import type { InflightOptions } from "./inflight.ts";
import type { ServiceCallsStatus } from "../status/status.ts";
import { announcedServices } from "./announce.ts";
import { CallAuthorizer } from "./authorize.ts";
import type { CallRule } from "../policy/model.ts";
import { type CallerLimitOptions, CallerLimits } from "./caller_limits.ts";
import { type RequestOptions, ServiceClient } from "./client.ts";
import type { Ejection, OutliersOptions } from "./outliers.ts";
import type { RetryBudgetOptions } from "./retry_budget.ts";
import { type ServiceCheckSpec, ServiceHealthCheck } from "./health_check.ts";
import {
  type HttpBackendOptions,
  httpBackendService,
  type HttpBackendSpec,
} from "./http_backend.ts";
import { type ServiceInstance, serviceInstances, serviceNames } from "./instances.ts";
import { LocalServices, type ProvidedService, type ServiceActions, serviceOf } from "./local.ts";
import { type PublishOptions, type PublishResult, PubSub } from "./pubsub.ts";
import { ServiceServer } from "./server.ts";
import { type DatagramStack, ServiceSocket } from "./socket.ts";
import { ServiceStats } from "./stats.ts";
import { RateLimiter } from "../protocol/ratelimiter.ts";
import type { SubscribeOptions, Subscription } from "./subscription.ts";
import type { RemoteSubscriptions } from "./subscription_table.ts";
import type { SubscriptionEntry } from "./wire.ts";
import type {
  LeaseRuntime,
  LeaseStats,
  ServiceLeader,
  ServiceLeaderChange,
  ServiceLease,
} from "./lease/runtime.ts";

/** What the service layer offers of the service-leader leases (the mesh agent's LeaseRuntime). */
export type ServiceLeases = Pick<
  LeaseRuntime,
  "leader" | "leaders" | "subscribe" | "lease" | "setHealth" | "stats"
>;

/** Tuning of the service layer; every field has a default. */
export interface ServiceLayerOptions {
  /** The largest request, answer or event, bytes. Default 16 MiB (events: 1 MiB). */
  maxMessageBytes?: number;
  /** Limits per caller on this node's services. */
  callers?: CallerLimitOptions;
  /** The bound on bytes of requests in flight to one instance (backpressure; inflight.ts). */
  inflight?: InflightOptions;
  /** Default per-attempt timeout of calls, ms. Default 5000. */
  requestTimeoutMs?: number;
  /** Default retries of calls. Default 2. */
  retries?: number;
  /**
   * How often an instance that let a call time out is pinged until it answers (it is out of the
   * rotation meanwhile), ms. Default 1000.
   */
  pingIntervalMs?: number;
  /** How often subscriptions are announced, ms. Default 5000. */
  announceIntervalMs?: number;
  /** The first wait for an event's ack, ms. Default 500. */
  ackTimeoutMs?: number;
  /** Outlier ejection of instances that fail calls (outliers.ts; defaults: 5 in a row, 30 s). */
  outliers?: Omit<OutliersOptions, "now">;
  /** Each service's retry budget (retry_budget.ts; defaults: 20% of calls + 10 per 10 s). */
  retryBudget?: Omit<RetryBudgetOptions, "now">;
}

/** The service section of a mesh agent's options. */
export interface ServicesOptions {
  /** Services answered by HTTP servers (`--service-http NAME=URL`), provided from the start. */
  serviceHttp?: HttpBackendSpec[];
  /** Health checks of this node's services (`--service-check NAME=TARGET,...`). */
  serviceChecks?: { service: string; check: ServiceCheckSpec }[];
  /**
   * What each calling node may ask of this node's services (`--service-caller-limit`; default
   * 200 calls a second, bursts of 400, 32 at once); over it, calls are refused `rate-limited`.
   * Overrides `serviceLayer.callers`. Throws a RangeError at construction on figures that are not
   * positive (integers, for `maxConcurrent`).
   */
  serviceCallerLimit?: CallerLimitOptions;
  /** Tuning of the service layer. */
  serviceLayer?: ServiceLayerOptions;
}

/** What the service layer works with. */
export interface MeshServicesDeps {
  /** The agent's control stack (overlay addresses, through the tunnels). */
  stack: DatagramStack;
  /** This node's public key. */
  publicKey: string;
  /** This node's overlay address. */
  address: string;
  /** The membership view held now. */
  view: () => MembershipView;
  /** This node's health of a peer. */
  peerHealth: (publicKey: string) => HealthState | undefined;
  /** Puts the services to announce in this node's member record. */
  announce: (services: ServiceSpec[]) => void;
  /** The services the node was configured with (`--service`). */
  configured: ServiceSpec[];
  /** The logger. */
  logger: Logger;
  /** The service-leader leases; without them no service has a known leader. */
  leases?: ServiceLeases;
  /**
   * The call rules of the policy in force (its `calls`), read at each call this node serves;
   * without them (or while they are undefined) every call is let through.
   */
  callRules?: () => readonly CallRule[] | undefined;
}

/** A service as `list()` shows it. */
export interface ServiceSummary {
  /** The service. */
  name: string;
  /** Provided on this node. */
  local: boolean;
  /** This node's health check of it: true or false, null before the first result, absent without one. */
  localHealthy?: boolean | null;
  /** Its instances as this node sees them. */
  instances: ServiceInstance[];
  /** The calls this node made of it; absent before the first. */
  calls?: ServiceCallsStatus;
}

/** The service layer's state, for `/status`. */
export interface ServicesStatus {
  /** Services provided here. */
  provided: string[];
  /** This node's subscriptions (pattern and group pairs). */
  subscriptions: SubscriptionEntry[];
  /** Other nodes' subscriptions as known here. */
  remoteSubscriptions: RemoteSubscriptions[];
  /** Instances that let a call time out and have not answered since (overlay addresses). */
  suspects: string[];
  /** Instances this node's calls ejected, or probe back now (this node's own: address `""`). */
  ejected: Ejection[];
  /** Bytes held by reassemblies under way. */
  reassemblyBytes: number;
}

/** A member index of one view. */
interface ViewIndex {
  view: MembershipView;
  byAddress: Map<string, Member>;
}

/** The overlay addresses of one view's members that announce a service. */
interface ProviderIndex {
  view: MembershipView;
  addresses: Set<string>;
}

/**
 * The service layer of a node (`mesh.services`); the example of `@weft/weft/services` uses it.
 */
export class MeshServices {
  readonly #d: MeshServicesDeps;
  readonly #stats = new ServiceStats();
  readonly #local = new LocalServices();
  readonly #socket: ServiceSocket;
  readonly #server: ServiceServer;
  readonly #authorizer: CallAuthorizer;
  readonly #client: ServiceClient;
  readonly #pubsub: PubSub;
  readonly #checks = new Map<string, ServiceHealthCheck>();
  readonly #failing = new Set<string>();
  /** Local services whose check has given no result yet: failing until the first one passes. */
  readonly #unchecked = new Set<string>();
  readonly #healthListeners = new Set<(service: string, healthy: boolean) => void>();
  // Pongs are cheap, but a member flooding pings gets no more than this many back.
  readonly #pongLimit = new RateLimiter({ perSecond: 20, burst: 40, maxEntries: 4096 });
  #pongsLimited = 0;
  #ticker: ReturnType<typeof setInterval> | undefined;
  #configured: ServiceSpec[];
  #announced: ServiceSpec[];
  #index: ViewIndex | null = null;
  #providers: ProviderIndex | null = null;
  #started = false;
  #closed = false;

  /** The layer over `deps`, bound to the service port; `start` begins its timers. */
  constructor(deps: MeshServicesDeps, opts: ServicesOptions = {}) {
    this.#d = deps;
    const o = opts.serviceLayer ?? {};
    this.#configured = deps.configured.map((s) => ({ ...s }));
    this.#announced = announcedServices(this.#configured, [], this.#failing);
    this.#authorizer = new CallAuthorizer({
      rules: () => deps.callRules?.(),
      member: (a) => this.#member(a),
      self: () => deps.view().members.find((m) => m.publicKey === deps.publicKey),
    });
    this.#server = new ServiceServer({
      local: this.#local,
      limits: new CallerLimits({ ...o.callers, ...opts.serviceCallerLimit }),
      stats: this.#stats,
      send: (to, msg) => this.#socket.send(to, msg),
      nameOf: (a) => this.#member(a)?.name ?? null,
      healthy: (s) => !this.#failing.has(s),
      authorize: (caller, s, a) => this.#authorizer.check(caller, s, a),
      self: this.#selfName(),
    });
    this.#client = new ServiceClient({
      send: (to, msg) => this.#socket.send(to, msg),
      localReady: (s) => this.#local.get(s) !== undefined && !this.#failing.has(s),
      callLocal: (s, a, p, ttl) => this.#server.callLocal(s, a, p, ttl),
      instances: (s) => this.instances(s),
      stats: this.#stats,
      ping: (to, id) => this.#socket.send(to, { kind: "ping", id }),
      isMember: (a) => this.#member(a) !== undefined,
    }, {
      timeoutMs: o.requestTimeoutMs,
      retries: o.retries,
      pingIntervalMs: o.pingIntervalMs,
      ...(o.outliers ? { outliers: o.outliers } : {}),
      ...(o.retryBudget ? { retryBudget: o.retryBudget } : {}),
      inflight: o.inflight,
    });
    this.#pubsub = new PubSub({
      self: () => deps.address,
      sendEncoded: (to, bytes) => this.#socket.sendEncoded(to, bytes),
      maxMessageBytes: o.maxMessageBytes ?? 1 << 20,
      peers: () => this.#peers(),
      eligible: (a) => {
        const m = this.#member(a);
        return m !== undefined && deps.peerHealth(m.publicKey) !== "down";
      },
      nameOf: (a) => this.#member(a)?.name ?? null,
      // An idle member (sessions on demand) has no session with this node.
      inSession: (a) => {
        const m = this.#member(a);
        return m !== undefined && deps.peerHealth(m.publicKey) !== "idle";
      },
      stats: this.#stats,
    }, { announceIntervalMs: o.announceIntervalMs, ackTimeoutMs: o.ackTimeoutMs });
    this.#socket = new ServiceSocket(deps.stack, (msg, from) => {
      if (msg.kind === "request") this.#server.handle(msg, from);
      else if (msg.kind === "response") this.#client.handleResponse(msg, from);
      else if (msg.kind === "ping") this.#pong(msg.id, from);
      else if (msg.kind === "pong") this.#client.handlePong(msg.id, from);
      else this.#pubsub.handle(msg, from);
    }, {
      maxMessageBytes: o.maxMessageBytes,
      logger: deps.logger,
      // A member's addresses (IPv4 and IPv6) share one reassembly budget.
      senderOf: (a) => this.#member(a)?.publicKey ?? a,
    });
    this.#local.subscribe(() => this.#reannounce());
    for (const spec of opts.serviceHttp ?? []) this.provideHttp(spec);
    for (const { service, check } of opts.serviceChecks ?? []) this.check(service, check);
  }

  /**
   * Starts the announcements of subscriptions, the health checks and the pings of suspects.
   * @ignore internal: the mesh agent runs the service layer
   */
  start(): void {
    if (this.#started || this.#closed) return;
    this.#started = true;
    this.#pubsub.start();
    // Ticks finer than the ping interval, so each suspect is pinged close to it.
    this.#ticker = setInterval(() => this.#client.tick(), 250);
    for (const c of this.#checks.values()) c.start();
  }

  /**
   * The services to announce now (configured, provided, failing; see announce.ts).
   * @ignore internal: the mesh agent runs the service layer
   */
  announced(): ServiceSpec[] {
    return this.#announced.map((s) => ({ ...s }));
  }

  /**
   * Replaces the configured services (`setServices`); returns the services to announce now,
   * which the caller puts in the member record (so it can wait for that).
   * @ignore internal: the mesh agent runs the service layer
   */
  configure(services: ServiceSpec[]): ServiceSpec[] {
    this.#configured = services.map((s) => ({ ...s }));
    this.#announced = announcedServices(this.#configured, this.#local.names(), this.#failing);
    return this.announced();
  }

  /**
   * Provides service `name` on this node with `actions` (each a handler, or a handler and
   * `idempotent: true`): callable from every node as `name/<action>`, announced in this node's
   * member record. Throws an Error on a bad name or action, or when `name` is provided already.
   */
  provide(name: string, actions: ServiceActions): ProvidedService {
    return this.#add(serviceOf(name, actions));
  }

  /** Provides a service whose actions an HTTP server answers (see http_backend.ts). */
  provideHttp(spec: HttpBackendSpec, opts: HttpBackendOptions = {}): ProvidedService {
    return this.#add(
      httpBackendService(spec, { maxResponseBytes: this.#socket.maxMessageBytes, ...opts }),
    );
  }

  /**
   * Calls `service/action` on an instance of the service: this node's when it provides it,
   * else the healthy ones in turn; rejects with a `ServiceError` (`no-instance`, `timeout`,
   * `remote-error`, `too-large`, `rate-limited`, `bad-request`). See client.ts, and the example
   * of `@weft/weft/services`.
   */
  request(path: string, params?: unknown, opts?: RequestOptions): Promise<unknown> {
    return this.#client.request(path, params, opts);
  }

  /**
   * Publishes an event to the subscribers of `topic`: on every node (`all`, the default), one
   * per service group (`one-per-service`), or on this node only (`local-only`). See pubsub.ts,
   * and the example of `@weft/weft/services`.
   */
  publish(topic: string, data: unknown, opts?: PublishOptions): Promise<PublishResult> {
    return this.#pubsub.publish(topic, data, opts);
  }

  /**
   * Subscribes to a topic pattern (`*` one segment, a last `>` one or more; see topics.ts); the
   * events come through `for await`, and leaving the loop ends the subscription (the example of
   * `@weft/weft/services` follows one).
   */
  subscribe(pattern: string, opts?: SubscribeOptions): Subscription {
    return this.#pubsub.subscribe(pattern, opts);
  }

  /**
   * The leader of a service as this node knows it (from the mesh leader's announcements), or
   * null when it has none now. At most one node holds a service's lease at a time; see the
   * docs/concepts.md, "Service leaders", for what that rests on.
   *
   * @example A service's leader, its changes, and the lease of the member that leads it
   * ```ts run
   * import { MeshAgent } from "@weft/weft";
   *
   * const mesh = await MeshAgent.start({
   *   role: "leader", // the mesh's leader is the arbiter of the services' leases
   *   hostname: "hq",
   *   stateDir: await Deno.makeTempDir(),
   *   userspace: true,
   *   listenPort: 52820,
   *   dnsPort: 0,
   *   lanDiscovery: false,
   *   services: [{ name: "scheduler", port: 8080, protocol: "tcp" }], // an instance: it may lead
   * });
   * // The arbiter grants the lease a moment after the start: wait for the change.
   * const led = new Promise<void>((resolve) => {
   *   const stop = mesh.services.onServiceLeader(({ name, leader }) => {
   *     console.log(name, leader ? `led by ${leader.member}` : "has no leader");
   *     if (leader) {
   *       stop();
   *       resolve();
   *     }
   *   });
   * });
   * await led; // prints: scheduler led by hq
   * const l = mesh.services.serviceLeader("scheduler"); // as every member knows it
   * const lease = mesh.services.serviceLease("scheduler"); // this member's own, while it leads
   * // The fencing token: hand it to what the leader writes to, which refuses lower ones.
   * console.log(l?.member, lease !== null && lease.token === l?.token); // prints: hq true
   * await mesh.close();
   * ```
   */
  serviceLeader(name: string): ServiceLeader | null {
    return this.#d.leases?.leader(name) ?? null;
  }

  /** Every service leader this node knows of. */
  serviceLeaders(): ServiceLeader[] {
    return this.#d.leases?.leaders() ?? [];
  }

  /**
   * Subscribes to changes of service leaders (a new leader, or none known); returns the
   * unsubscribe function (the example of {@linkcode MeshServices.serviceLeader} waits for one).
   */
  onServiceLeader(fn: (change: ServiceLeaderChange) => void): () => void {
    return this.#d.leases?.subscribe(fn) ?? (() => {});
  }

  /** Whether this node leads a service now (it holds the service's lease). */
  isServiceLeader(name: string): boolean {
    return this.serviceLease(name) !== null;
  }

  /**
   * This node's lease of a service when it leads it: the fencing token to hand to the resources
   * it writes to (they refuse tokens lower than the highest they saw), and until when it leads
   * unless renewed. Null when it does not lead it (the example of
   * {@linkcode MeshServices.serviceLeader} reads one).
   */
  serviceLease(name: string): ServiceLease | null {
    return this.#d.leases?.lease(name) ?? null;
  }

  /**
   * What this node's own health check says of a local service: while it fails, the node gives
   * up the service's leadership (at once) and does not run for it. Throws a RangeError for a
   * name that is not a service name.
   */
  setServiceHealth(name: string, healthy: boolean): void {
    this.#d.leases?.setHealth(name, healthy);
  }

  /**
   * The service-leader lease counters (the arbiter's on the leader).
   * @ignore internal: the mesh agent runs the service layer
   */
  leaseStats(): LeaseStats | null {
    return this.#d.leases?.stats() ?? null;
  }

  /**
   * Checks a local service's health as `spec` says, from now on (replacing a check it had);
   * returns the function that stops it (the service then counts as healthy). Until the first
   * check passes the service counts as failing: out of rotation and not running for its
   * leadership, as a check that failed would have it (fail closed, not open).
   */
  check(service: string, spec: ServiceCheckSpec): () => void {
    this.#checks.get(service)?.stop();
    const c = new ServiceHealthCheck(service, spec, (healthy) => {
      if (this.#checks.get(service) === c) this.#setHealth(service, healthy);
    });
    this.#checks.set(service, c);
    this.#setHealth(service, false, true);
    if (this.#started && !this.#closed) c.start();
    return () => {
      c.stop();
      if (this.#checks.get(service) !== c) return;
      this.#checks.delete(service);
      this.#setHealth(service, true);
    };
  }

  /** Hears every change of a local service's health; returns the unsubscribe function. */
  onHealth(fn: (service: string, healthy: boolean) => void): () => void {
    this.#healthListeners.add(fn);
    return () => this.#healthListeners.delete(fn);
  }

  /**
   * A member said it is stopping (its bye, to its peers): its instances leave this node's
   * rotation now, before the leader's change arrives (or when the leader is down), and come back
   * when it answers again. The caller checked the sender's key against the member's. A member
   * that announces no service is in no rotation: it is not marked, or it would be pinged every
   * second for as long as it stays a member (every bye of a churning fleet, on every peer).
   * @ignore internal: the mesh agent runs the service layer
   */
  memberLeft(address: string): void {
    if (!this.#provider(address)) return;
    this.#client.markGone(address);
  }

  /** Whether a local service passes its check (true without one). */
  healthy(service: string): boolean {
    return !this.#failing.has(service);
  }

  /** The instances of `service` as this node sees them. */
  instances(service: string): ServiceInstance[] {
    return serviceInstances(this.#d.view(), service, {
      self: this.#d.publicKey,
      peerHealth: this.#d.peerHealth,
      unanswered: (a) => this.#client.isSuspect(a),
      ejected: (a) => this.#client.isEjected(service, a),
    });
  }

  /** Every service known (announced by a member, or provided here), with its instances. */
  list(): ServiceSummary[] {
    const names = new Set([...serviceNames(this.#d.view()), ...this.#local.names()]);
    const calls = this.#stats.callsByService();
    return [...names].sort().map((name) => {
      const check = this.#checks.get(name);
      const made = calls.get(name);
      return {
        name,
        local: this.#local.get(name) !== undefined,
        ...(check ? { localHealthy: check.healthy } : {}),
        instances: this.instances(name),
        ...(made ? { calls: made } : {}),
      };
    });
  }

  /**
   * The figures for `/metrics`.
   * @ignore internal: the mesh agent runs the service layer
   */
  metrics(): ServiceMetrics {
    const figures = this.#stats.snapshot({
      ...this.#socket.drops(),
      "pong-limited": this.#pongsLimited,
      "subscriptions-refused": this.#pubsub.strangersRefused,
    });
    return { ...figures, denied: this.#authorizer.denied(), wire: this.#socket.wire() };
  }

  /**
   * The state for `/status`.
   * @ignore internal: the mesh agent runs the service layer
   */
  status(): ServicesStatus {
    return {
      provided: this.#local.names(),
      subscriptions: this.#pubsub.table.localEntries(),
      remoteSubscriptions: this.#pubsub.table.remote(),
      suspects: this.#client.suspects(),
      ejected: this.#client.ejections(),
      reassemblyBytes: this.#socket.heldBytes,
    };
  }

  /**
   * Takes a new view: members that joined hear of this node's subscriptions.
   * @ignore internal: the mesh agent runs the service layer
   */
  viewChanged(before: MembershipView, after: MembershipView): void {
    // With no subscription there is nothing to tell: not a set of every member's address for
    // nothing at each change (a leader of thousands has many changes, and most nodes subscribe
    // to nothing).
    if (!this.#pubsub.tellsJoined) return;
    const old = new Set(before.members.map((m) => m.address));
    const joined = after.members
      .filter((m) => !old.has(m.address) && m.publicKey !== this.#d.publicKey)
      .map((m) => m.address);
    this.#pubsub.membersJoined(joined);
  }

  /**
   * Stops everything: subscriptions end, handlers are aborted, the port is unbound.
   * @ignore internal: the mesh agent runs the service layer
   */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    clearInterval(this.#ticker);
    for (const c of this.#checks.values()) c.stop();
    this.#pubsub.close();
    this.#server.close();
    this.#socket.close();
  }

  /** Answers a member's liveness ping (rate-limited per member; others get nothing). */
  #pong(id: number, from: string): void {
    if (this.#member(from) === undefined) return;
    if (!this.#pongLimit.allow(from)) {
      this.#pongsLimited++;
      return;
    }
    this.#socket.send(from, { kind: "pong", id });
  }

  #add(service: ReturnType<typeof serviceOf>): ProvidedService {
    if (this.#closed) throw new Error("the mesh is closed");
    const names = new Set([...this.#configured.map((s) => s.name), ...this.#local.names()]);
    if (
      !names.has(service.name) &&
      this.#configured.length + this.#local.names().length + 1 > MAX_SERVICES
    ) {
      throw new Error(`a node may announce at most ${MAX_SERVICES} services`);
    }
    return this.#local.add(service);
  }

  /** `unchecked`: a check begins, and the service waits for its first result. */
  #setHealth(service: string, healthy: boolean, unchecked = false): void {
    const was = !this.#failing.has(service);
    // The first result is logged even when it keeps the service failing.
    const first = !unchecked && this.#unchecked.delete(service);
    if (unchecked) this.#unchecked.add(service);
    if (healthy) this.#failing.delete(service);
    else this.#failing.add(service);
    if (was === healthy && !first) return;
    this.#d.logger.info(
      unchecked
        ? "service waits for its first health check"
        : healthy
        ? "service healthy"
        : "service failing its health check",
      { service },
    );
    if (was === healthy) return;
    this.#reannounce();
    // A failing check gives the leadership up at once, not when the lease runs out; and a
    // service waiting for its first check does not run for it.
    this.#d.leases?.setHealth(service, healthy);
    for (const fn of this.#healthListeners) fn(service, healthy);
  }

  /** Announces the services if what is announced changed. */
  #reannounce(): void {
    if (this.#closed) return;
    const next = announcedServices(this.#configured, this.#local.names(), this.#failing);
    if (JSON.stringify(next) === JSON.stringify(this.#announced)) return;
    this.#announced = next;
    this.#d.announce(this.announced());
  }

  #member(address: string): Member | undefined {
    const view = this.#d.view();
    if (this.#index?.view !== view) {
      const byAddress = new Map<string, Member>();
      for (const m of view.members) {
        byAddress.set(m.address, m);
        if (m.address6) byAddress.set(m.address6, m);
      }
      this.#index = { view, byAddress };
    }
    return this.#index.byAddress.get(address);
  }

  // Whether the member at `address` announces a service. Byes come while a fleet churns, each
  // with a new view: the index of every member, made again for each, was a map of 10,000 a bye
  // on a leader of 10,000; most members announce nothing, so this set is small.
  #provider(address: string): boolean {
    const view = this.#d.view();
    if (this.#providers?.view !== view) {
      const addresses = new Set<string>();
      for (const m of view.members) {
        if (!m.services.length) continue;
        addresses.add(m.address);
        if (m.address6) addresses.add(m.address6);
      }
      this.#providers = { view, addresses };
    }
    return this.#providers.addresses.has(address);
  }

  #peers(): string[] {
    return this.#d.view().members.filter((m) => m.publicKey !== this.#d.publicKey).map((m) =>
      m.address
    );
  }

  #selfName(): string | undefined {
    return this.#d.view().members.find((m) => m.publicKey === this.#d.publicKey)?.name;
  }
}
