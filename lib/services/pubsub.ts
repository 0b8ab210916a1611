/**
 * Publish and subscribe across the mesh.
 *
 * Where events go: each node tells the others its subscriptions (pattern and group pairs) at
 * once when they change and every few seconds while it has any (so a node that missed one, or
 * joined later, learns them; a node's announcements are forgotten after three intervals of
 * silence, or when it leaves the membership). A publisher sends an event only to the nodes with
 * a matching subscriber, rather than to every member to be filtered there: traffic follows
 * interest, and `one-per-service` needs the publisher to know the groups anyway, to choose one
 * node per group. Receivers acknowledge each announcement (the version they now hold), and the
 * announcing node resends it to those that did not, as it does events: a subscription's
 * `announced` resolves once every other member that is not known to be down holds it (or the
 * resends ran out, naming who did not). A publish that starts on a member after it acknowledged
 * reaches the subscriber; one made before `announced` resolves may miss it.
 *
 * Exactly once per subscriber, in the normal case: each event carries an id (per publisher);
 * a receiving node acknowledges it, the publisher resends it (up to `resends` times, with the
 * wait doubling each time) until acknowledged, and the receiver delivers an id from a publisher
 * once (a window of ids per member publisher, as WireGuard's counters; a bounded set shared by
 * addresses no member holds), acknowledging duplicates again. An event resent after its
 * publisher sent more than the window's ids since, all its acks lost, is dropped as a duplicate;
 * a node that never acknowledges is reported in the publish's result (`unacked`).
 *
 * Modes: `all`, every matching subscriber on every node; `one-per-service`, one subscriber per
 * group (and every ungrouped one; subscription_table.ts); `local-only`, this node's matching
 * subscribers, nothing sent. Backpressure: each subscriber's queue is bounded (a slow one drops,
 * counted), and events awaiting acks are bounded (a publish beyond is refused `rate-limited`).
 * @module
 */

import { ServiceError } from "./errors.ts";
import type { ServiceStats } from "./stats.ts";
import { RecentSet } from "./recent.ts";
import { ReplayWindow } from "../protocol/replay.ts";
import {
  type AnnounceResult,
  type ServiceEvent,
  type SubscribeOptions,
  Subscription,
} from "./subscription.ts";
import { type NodePlan, SubscriptionTable } from "./subscription_table.ts";
import { TopicPattern, topicProblem } from "./topics.ts";
import {
  encodeMessage,
  type EventAckMessage,
  type EventMessage,
  type SubscriptionsAckMessage,
  type SubscriptionsMessage,
  valueProblem,
} from "./wire.ts";
import { serviceNameProblem } from "../members/services.ts";

/** How an event is delivered: see the module docs. */
export type PublishMode = "all" | "one-per-service" | "local-only";

/** How an event is published. */
export interface PublishOptions {
  /** Default `all`. */
  mode?: PublishMode;
}

/**
 * How far behind a member's highest event id an id is taken for its next run's (a restarted
 * publisher starts from another random number); nearer, and older than the window, it is a late
 * resend, dropped as a duplicate.
 */
const NEW_RUN_GAP = 2 ** 20;

/**
 * The most announcers that are no member in this node's view held between two ticks: a member
 * that just joined is one, a flood from made-up addresses many (the rest refused, counted).
 */
export const MAX_STRANGER_ANNOUNCERS = 64;

/** What came of a publish. */
export interface PublishResult {
  /** Subscribers on this node that got the event. */
  local: number;
  /** Other nodes the event was sent to. */
  nodes: number;
  /** Of those, the nodes that acknowledged it. */
  acked: number;
  /** The nodes that never acknowledged it (names, or addresses when not members). */
  unacked: string[];
}

/** What pub/sub works with. */
export interface PubSubDeps {
  /** This node's overlay address. */
  self: () => string;
  /** Sends an encoded message (at most `maxMessageBytes`). */
  sendEncoded: (address: string, bytes: Uint8Array) => void;
  /** The largest message, bytes: a larger event is refused `too-large`. */
  maxMessageBytes: number;
  /** The other members' overlay addresses (where announcements go). */
  peers: () => string[];
  /** Whether a node may be planned for events (a member, not known to be down). */
  eligible: (address: string) => boolean;
  /** The member name at an overlay address. */
  nameOf: (address: string) => string | null;
  /**
   * Whether this node has a session with a member (default: all). A node that subscribes to
   * nothing tells only those "none" at its start: a member without a session would need a
   * handshake for it (sessions on demand), and any entries it kept of an earlier run of this
   * node expire by themselves.
   */
  inSession?: (address: string) => boolean;
  /** The figures. */
  stats: ServiceStats;
  /** The clock, ms. */
  now?: () => number;
}

/** Pub/sub's timing and bounds. */
export interface PubSubOptions {
  /** How often subscriptions are announced while there are any, ms. Default 5000. */
  announceIntervalMs?: number;
  /** The first wait for an event's ack, ms; each resend waits twice as long. Default 500. */
  ackTimeoutMs?: number;
  /** Resends of an event a node has not acknowledged. Default 3. */
  resends?: number;
  /**
   * Event ids remembered for deduplication of publishers that are no member in this node's view
   * (all of them together; each member has a window of its own). Default 8192.
   */
  dedupeSize?: number;
  /** Events awaiting acks (per node) at once; a publish beyond is refused. Default 4096. */
  maxInFlight?: number;
}

/** Publishes and delivers events; see the module docs. */
export class PubSub {
  /** The subscriptions, this node's and the others'. */
  readonly table: SubscriptionTable;
  readonly #d: PubSubDeps;
  readonly #now: () => number;
  readonly #interval: number;
  readonly #ackTimeout: number;
  readonly #resends: number;
  readonly #maxInFlight: number;
  readonly #seen: RecentSet;
  readonly #windows = new Map<string, ReplayWindow>();
  readonly #acks = new Map<string, () => void>();
  readonly #timers = new Set<ReturnType<typeof setTimeout>>();
  readonly #subs = new Set<Subscription>();
  #nextId = Math.floor(Math.random() * 2 ** 40);
  #timer: ReturnType<typeof setInterval> | undefined;
  #emptyUntil = 0;
  #closed = false;
  // Announcements held from addresses that are no member in this node's view, since the tick
  // (which forgets them), and those refused past the bound.
  #strangers = 0;
  #strangersRefused = 0;
  /** The highest local version each member acknowledged holding. */
  readonly #heldBy = new Map<string, number>();
  /** Waits for such acknowledgements ({@link PubSub.#held}). */
  readonly #heldWaiters = new Set<() => void>();

  /** Pub/sub over `deps`; `start` begins the announcements. */
  constructor(deps: PubSubDeps, opts: PubSubOptions = {}) {
    this.#d = deps;
    this.#now = deps.now ?? (() => performance.now());
    this.#interval = opts.announceIntervalMs ?? 5000;
    this.#ackTimeout = opts.ackTimeoutMs ?? 500;
    this.#resends = opts.resends ?? 3;
    this.#maxInFlight = opts.maxInFlight ?? 4096;
    this.#seen = new RecentSet(opts.dedupeSize ?? 8192);
    this.table = new SubscriptionTable();
  }

  /** Announces now and every interval; forgets silent nodes. */
  start(): void {
    this.#timer = setInterval(() => this.#tick(), this.#interval);
    if (this.table.hasLocal) this.announce();
    // With nothing subscribed, "none" goes out at the first tick (so others forget what an
    // earlier run of this node had), not now: at the start the device may not have the
    // members as peers yet, and the datagrams would be dropped with no route.
    else this.#emptyUntil = this.#now() + 1.5 * this.#interval;
  }

  /** Announcements refused from addresses no member holds, past {@link MAX_STRANGER_ANNOUNCERS}. */
  get strangersRefused(): number {
    return this.#strangersRefused;
  }

  /**
   * Subscribes to `pattern` (see topics.ts); throws an Error naming a bad pattern or group.
   * The subscription is announced to the other nodes at once.
   */
  subscribe(pattern: string, opts: SubscribeOptions = {}): Subscription {
    if (this.#closed) throw new Error("the mesh is closed");
    const p = new TopicPattern(pattern);
    if (opts.group !== undefined) {
      const q = serviceNameProblem(opts.group);
      if (q !== undefined) throw new Error(`bad group ${JSON.stringify(opts.group)}: ${q}`);
    }
    const sub = new Subscription(p, opts, (s) => {
      this.#subs.delete(s);
      if (this.table.removeLocal(s)) this.#changed();
    });
    const before = this.table.version;
    this.table.addLocal(sub);
    this.#subs.add(sub);
    if (this.table.version !== before) this.#changed();
    sub.announced = this.#held(this.table.version);
    return sub;
  }

  /** Publishes an event; see the module docs. Rejects with a {@link ServiceError} on bad input. */
  async publish(topic: string, data: unknown, opts: PublishOptions = {}): Promise<PublishResult> {
    const mode = opts.mode ?? "all";
    const tp = topicProblem(topic);
    if (tp !== undefined) throw new ServiceError("bad-request", tp);
    if (mode !== "all" && mode !== "one-per-service" && mode !== "local-only") {
      throw new ServiceError("bad-request", `bad mode ${JSON.stringify(mode)}`);
    }
    const vp = valueProblem(data);
    if (vp !== undefined) throw new ServiceError("bad-request", `the data cannot be sent: ${vp}`);
    if (this.#closed) throw new ServiceError("no-instance", "the mesh is closed");
    this.#d.stats.event("published");
    const self = this.#d.self();
    const id = this.#nextId++;
    const event: ServiceEvent = {
      topic,
      data: data ?? null,
      id: `${self}#${id}`,
      publisher: this.#d.nameOf(self),
      publisherAddress: self,
    };
    if (mode === "local-only") {
      return {
        local: this.#deliver(event, "all", { groups: [], loose: true }),
        nodes: 0,
        acked: 0,
        unacked: [],
      };
    }
    const plan = this.table.plan(topic, mode, self, this.#d.eligible);
    const remote = [...plan].filter(([a]) => a !== self);
    if (this.#acks.size + remote.length > this.#maxInFlight) {
      throw new ServiceError("rate-limited", "too many events await acknowledgement: slow down");
    }
    // Encoded (and size-checked) before anything is delivered, so a too-large event goes nowhere.
    const encoded = remote.map(([address, p]) => {
      const msg: EventMessage = {
        kind: "event",
        id,
        topic,
        data: event.data,
        mode,
        groups: p.groups,
        loose: p.loose,
      };
      return [address, encodeMessage(msg)] as const;
    });
    for (const [, bytes] of encoded) this.#checkSize(bytes);
    const mine = plan.get(self);
    const local = mine ? this.#deliver(event, mode, mine) : 0;
    this.#d.stats.event("sent", encoded.length);
    const results = await Promise.all(encoded.map(([a, bytes]) => this.#send(a, id, bytes)));
    const unacked = encoded.filter((_, i) => !results[i]).map(([a]) => this.#d.nameOf(a) ?? a);
    if (unacked.length) this.#d.stats.eventDrop("unacked", unacked.length);
    return { local, nodes: encoded.length, acked: encoded.length - unacked.length, unacked };
  }

  /** Handles an event, an ack, or a node's subscriptions from `from`. */
  handle(
    msg: EventMessage | EventAckMessage | SubscriptionsMessage | SubscriptionsAckMessage,
    from: string,
  ): void {
    if (this.#closed) return;
    if (msg.kind === "event-ack") {
      this.#acks.get(`${from}|${msg.id}`)?.();
      return;
    }
    if (msg.kind === "subscriptions-ack") {
      // Only members' acks are kept (and those of members that left are forgotten at the tick).
      if (this.#d.nameOf(from) === null) return;
      if (msg.version > (this.#heldBy.get(from) ?? -1)) this.#heldBy.set(from, msg.version);
      for (const fn of [...this.#heldWaiters]) fn();
      return;
    }
    if (msg.kind === "subscriptions") {
      const known = this.table.hasRemote(from);
      if (!known && this.#d.nameOf(from) === null) {
        // No member in this view: one that just joined (its record on its way here), or an
        // address no member holds (a host behind a subnet router may send from any of a
        // prefix's). Held until the tick, so many at most: they cannot fill the table.
        if (this.#strangers >= MAX_STRANGER_ANNOUNCERS) return void this.#strangersRefused++;
        this.#strangers++;
      }
      // Acknowledged only when taken: an older version than the one held (a reordered resend, or
      // a node restarted with its clock set back) is not, and acknowledging it would say so.
      if (this.table.setRemote(from, msg.version, msg.entries, this.#now())) {
        this.#sendTo(from, encodeMessage({ kind: "subscriptions-ack", version: msg.version }));
      }
      // A node we did not know of: it may not know us either.
      if (!known && this.table.hasLocal) this.announce([from]);
      return;
    }
    if (this.#fresh(from, msg.id)) {
      this.#deliver(
        {
          topic: msg.topic,
          data: msg.data,
          id: `${from}#${msg.id}`,
          publisher: this.#d.nameOf(from),
          publisherAddress: from,
        },
        msg.mode,
        { groups: msg.groups, loose: msg.loose },
      );
    } else {
      this.#d.stats.eventDrop("duplicate");
    }
    this.#sendTo(from, encodeMessage({ kind: "event-ack", id: msg.id }));
  }

  /** Sends this node's subscriptions to `to` (default: every other member). */
  announce(to: string[] = this.#d.peers()): void {
    const msg: SubscriptionsMessage = {
      kind: "subscriptions",
      version: this.table.version,
      entries: this.table.localEntries(),
    };
    const bytes = encodeMessage(msg);
    for (const a of to) this.#sendTo(a, bytes);
  }

  /**
   * Whether members that join are to be told of this node's subscriptions ({@link membersJoined}
   * does nothing otherwise, so its caller need not work out who joined).
   */
  get tellsJoined(): boolean {
    return this.table.hasLocal;
  }

  /** Tells members that just joined this node's subscriptions. */
  membersJoined(addresses: string[]): void {
    if (addresses.length && this.tellsJoined) this.announce(addresses);
  }

  /** Ends every subscription and stops; publishes awaiting acks end unacknowledged. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    clearInterval(this.#timer);
    for (const t of this.#timers) clearTimeout(t);
    this.#timers.clear();
    for (const done of [...this.#acks.values()]) done();
    for (const done of [...this.#heldWaiters]) done();
    for (const s of [...this.#subs]) s.close();
  }

  #changed(): void {
    if (this.#closed) return;
    // After the last subscription ends, "none" is announced for a while, so others forget.
    if (!this.table.hasLocal) this.#emptyUntil = this.#now() + 3 * this.#interval;
    this.announce();
  }

  /**
   * Whether an event is new: a member's ids go through its own window (a flood of one member's
   * events cannot push another's out, so a late resend is still known as one); the ids of
   * addresses no member holds share one bounded set.
   */
  #fresh(from: string, id: number): boolean {
    if (this.#d.nameOf(from) === null) return this.#seen.add(`${from}|${id}`);
    let w = this.#windows.get(from);
    if (!w) this.#windows.set(from, w = new ReplayWindow());
    // A publisher counts from a random start at each run: far behind what its last run reached,
    // an id is its new run's, and the window starts over.
    if (w.highest - id > NEW_RUN_GAP) w.reset();
    return w.accept(id, Number.MAX_SAFE_INTEGER);
  }

  #tick(): void {
    const now = this.#now();
    const peers = new Set(this.#d.peers());
    for (const a of this.#windows.keys()) if (!peers.has(a)) this.#windows.delete(a);
    this.table.expire(now - 3 * this.#interval, (a) => peers.has(a));
    this.#strangers = 0;
    // Members that left: their acknowledgements go too (the map stays as small as the membership).
    for (const a of this.#heldBy.keys()) if (!peers.has(a)) this.#heldBy.delete(a);
    if (this.table.hasLocal) this.announce([...peers]);
    else if (now < this.#emptyUntil) {
      const inSession = this.#d.inSession;
      this.announce(inSession ? [...peers].filter(inSession) : [...peers]);
    }
  }

  #deliver(ev: ServiceEvent, mode: EventMessage["mode"], plan: NodePlan): number {
    let n = 0;
    for (const s of this.table.localTargets(ev.topic, mode, plan)) {
      if (s.push(ev)) n++;
      else this.#d.stats.eventDrop("slow-subscriber");
    }
    if (n) this.#d.stats.event("delivered", n);
    return n;
  }

  #checkSize(bytes: Uint8Array): void {
    const max = this.#d.maxMessageBytes;
    if (bytes.length > max) {
      throw new ServiceError(
        "too-large",
        `the event is ${bytes.length} bytes, over the limit of ${max}`,
      );
    }
  }

  /** Sends an event until `address` acknowledges it or the resends run out. */
  async #send(address: string, id: number, bytes: Uint8Array): Promise<boolean> {
    const key = `${address}|${id}`;
    let wait = this.#ackTimeout;
    for (let attempt = 0; attempt <= this.#resends && !this.#closed; attempt++) {
      const acked = new Promise<boolean>((resolve) => {
        const timer = setTimeout(() => {
          this.#timers.delete(timer);
          this.#acks.delete(key);
          resolve(false);
        }, wait);
        this.#timers.add(timer);
        this.#acks.set(key, () => {
          clearTimeout(timer);
          this.#timers.delete(timer);
          this.#acks.delete(key);
          resolve(!this.#closed);
        });
      });
      this.#sendTo(address, bytes);
      if (await acked) return true;
      wait *= 2;
    }
    return false;
  }

  /**
   * Waits until every other member not known to be down acknowledged holding local version
   * `version` or a later one, resending the announcement to the others (the wait doubling from
   * the ack timeout, `resends` times); then says who did.
   */
  async #held(version: number): Promise<AnnounceResult> {
    const targets = this.#d.peers().filter((a) => this.#d.eligible(a));
    const missing = () => targets.filter((a) => (this.#heldBy.get(a) ?? -1) < version);
    let wait = this.#ackTimeout;
    for (let attempt = 0; attempt <= this.#resends && !this.#closed; attempt++) {
      if (attempt > 0) this.announce(missing());
      if (missing().length === 0) break;
      await new Promise<void>((resolve) => {
        const done = () => {
          if (missing().length > 0 && !this.#closed) return;
          clearTimeout(timer);
          this.#timers.delete(timer);
          this.#heldWaiters.delete(done);
          resolve();
        };
        const timer = setTimeout(() => {
          this.#timers.delete(timer);
          this.#heldWaiters.delete(done);
          resolve();
        }, wait);
        this.#timers.add(timer);
        this.#heldWaiters.add(done);
      });
      wait *= 2;
    }
    const unacked = missing().map((a) => this.#d.nameOf(a) ?? a);
    return { nodes: targets.length, acked: targets.length - unacked.length, unacked };
  }

  #sendTo(address: string, bytes: Uint8Array): void {
    if (this.#closed) return;
    this.#d.sendEncoded(address, bytes);
  }
}
