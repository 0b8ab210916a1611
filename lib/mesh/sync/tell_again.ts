/**
 * A node's telling the leader of a change of what it advertises (services, self-asserted labels,
 * LAN candidates, relaying, TCP port, routes): a hello says it at once, and again, later each
 * time, until the node's own record in the view it holds shows it. A hello is one datagram: lost
 * (a leader's socket overflows under load) it cost the change a whole hello interval, 10 s and
 * more in a large fleet, and every member learned it late at once.
 *
 * What the node's first hello says is no change (its join said it, and the hellos of every
 * interval repeat it): a whole fleet starting at once sends no more hellos than before. Nor is
 * the hello rate of a fleet in its steady state raised: only a change is told again, a few times
 * at most.
 * @module
 */

import { isNodeLabelKey } from "../../members/labels.ts";
import { MAX_LAN, type Member } from "../../members/member.ts";
import type { ControlMessage } from "./protocol.ts";

/** A hello, as the sync sends it. */
type Hello = Extract<ControlMessage, { t: "hello" }>;

/**
 * How long a node waits for its own record to show a change it told before it tells it again,
 * ms: doubled at each try, with jitter, {@link TELL_TRIES} times at most (some 8 s in all, within
 * a large fleet's hello interval).
 */
export const TELL_AGAIN_MS = 250;

/** How many times a node tells a change again while its record does not show it. */
export const TELL_TRIES = 5;

/** What a hello tells of the node that its record shows once the leader took it. */
export interface Told {
  /** The services, each in a canonical spelling, in order. */
  services: string;
  /** The self-asserted labels (`node.weft/`; the leader drops any other), canonical. */
  labels: string;
  /** The LAN candidates, none twice, at most MAX_LAN. */
  lan: string;
  /** Whether the node offers to relay. */
  relay: boolean;
  /** Its TCP port (null: none). */
  tcpPort: number | null;
  /** The routes it offers, sorted, none twice. */
  routes: string;
}

/** A field of {@link Told}. */
export type ToldField = keyof Told;

/** Every field of {@link Told}. */
export const TOLD_FIELDS: readonly ToldField[] = [
  "services",
  "labels",
  "lan",
  "relay",
  "tcpPort",
  "routes",
];

/** What `msg` tells (see {@link Told}). */
export function toldOf(msg: Hello): Told {
  return {
    services: canonical(msg.services ?? []),
    labels: canonical(nodeLabels(msg.labels ?? {})),
    lan: JSON.stringify([...new Set(msg.lan ?? [])].slice(0, MAX_LAN)),
    relay: msg.relay === true,
    tcpPort: msg.tcpPort ?? null,
    routes: JSON.stringify([...new Set(msg.routes ?? [])].sort()),
  };
}

/** Whether the record `own` shows field `f` of `told` as the leader writes it from a hello. */
export function shows(own: Member, told: Told, f: ToldField): boolean {
  switch (f) {
    case "services":
      return canonical(own.services) === told.services;
    case "labels":
      return canonical(own.nodeLabels ?? {}) === told.labels;
    case "lan":
      return JSON.stringify(own.lan ?? []) === told.lan;
    case "relay":
      // The leader takes it only from a node it granted relaying.
      return (own.relay === true) === (told.relay && own.grants?.relay === true);
    case "tcpPort":
      return (own.tcpPort ?? null) === told.tcpPort;
    case "routes":
      return JSON.stringify(own.advertisedRoutes ?? []) === told.routes;
  }
}

/** What telling again needs of the node. */
export interface TellAgainDeps {
  /** Says hello to the leader in use (it says what the node advertises now). */
  hello: () => void;
  /** The node's own record in the view held, if it lists it. */
  own: () => Member | undefined;
  /** Whether telling may go on: false once the node stops or was removed. */
  live: () => boolean;
  /** The first wait before telling again, ms (default {@link TELL_AGAIN_MS}). */
  againMs?: number;
}

/** Tells a change again until the node's record shows it. See the module docs. */
export class TellAgain {
  readonly #d: TellAgainDeps;
  readonly #againMs: number;
  // What the latest hello told (null: no hello yet).
  #last: Told | null = null;
  // The fields changed and not yet shown, the tries so far, the next one's timer.
  readonly #pending = new Set<ToldField>();
  #tries = 0;
  #timer: ReturnType<typeof setTimeout> | undefined;

  /** Nothing told yet: the first hello is no change. */
  constructor(deps: TellAgainDeps) {
    this.#d = deps;
    this.#againMs = deps.againMs ?? TELL_AGAIN_MS;
  }

  /** Whether a change told is still awaited in the record (another hello will follow if not). */
  get telling(): boolean {
    return this.#pending.size > 0;
  }

  /**
   * Hears a hello sent: what it tells that the one before did not is a change, told again until
   * the record shows it (a new change starts the waits over).
   */
  sent(msg: Hello): void {
    const now = toldOf(msg);
    const last = this.#last;
    this.#last = now;
    if (last === null) return;
    let changed = false;
    for (const f of TOLD_FIELDS) {
      if (now[f] !== last[f]) {
        this.#pending.add(f);
        changed = true;
      }
    }
    if (!changed) return;
    this.#tries = 0;
    clearTimeout(this.#timer);
    this.#wait();
  }

  /** Stops telling: the next try's timer is cleared. */
  stop(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#pending.clear();
  }

  #wait(): void {
    const ms = this.#againMs * 2 ** this.#tries * (0.75 + Math.random() / 2);
    this.#timer = setTimeout(() => this.#again(), ms);
  }

  #again(): void {
    this.#timer = undefined;
    if (!this.#d.live()) return this.stop();
    const own = this.#d.own();
    const told = this.#last!;
    for (const f of this.#pending) if (own && shows(own, told, f)) this.#pending.delete(f);
    // Shown, or told often enough (a leader that refuses it: the hellos of every interval say
    // it still).
    if (this.#pending.size === 0 || ++this.#tries > TELL_TRIES) return this.stop();
    this.#d.hello();
    this.#wait();
  }
}

/** `labels`' `node.weft/` ones: the leader keeps no other from a hello. */
function nodeLabels(labels: Record<string, string>): Record<string, string> {
  return Object.fromEntries(Object.entries(labels).filter(([k]) => isNodeLabelKey(k)));
}

/** `x` as JSON with every object's keys sorted: the same for the same value. */
function canonical(x: unknown): string {
  return JSON.stringify(
    x,
    (_k, v) =>
      v && typeof v === "object" && !Array.isArray(v)
        ? Object.fromEntries(Object.entries(v).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)))
        : v,
  );
}
