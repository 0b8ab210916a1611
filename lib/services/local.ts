/**
 * The services this node provides: each a name and its actions, each action a handler (and
 * whether it is idempotent: safe to run twice, so callers may retry it elsewhere). A service
 * may also resolve any action name itself (an HTTP backend does: action `x` is `POST /x`).
 * @module
 */

import { serviceNameProblem } from "../members/services.ts";
import { actionNameProblem } from "./wire.ts";

/** Who called, as a handler sees it. */
export interface CallContext {
  /** The service called. */
  service: string;
  /** The action called. */
  action: string;
  /** The caller's overlay address; null for a call made on this node. */
  callerAddress: string | null;
  /** The caller's node name, when it is a member (null for a call made on this node). */
  callerName: string | null;
  /** Aborted when the caller stops waiting: a handler should give up then. */
  signal: AbortSignal;
  /** When the caller stops waiting, `performance.now()` ms. */
  deadline: number;
}

/** An action's code: params in, a MessagePack-able answer out (or thrown error). */
export type ActionHandler = (params: unknown, ctx: CallContext) => unknown;

/** An action as given to `provide`: its handler, or its handler and whether it is idempotent. */
export type ActionSpec = ActionHandler | { handler: ActionHandler; idempotent?: boolean };

/** A service's actions by name. */
export type ServiceActions = Record<string, ActionSpec>;

/** An action ready to run. */
export interface ResolvedAction {
  /** Its code. */
  handler: ActionHandler;
  /** Safe to run twice. */
  idempotent: boolean;
}

/** A service as provided: its actions by name, or a resolver for any action name. */
export interface LocalService {
  /** The service name. */
  readonly name: string;
  /** The action, or undefined when the service has none of that name. */
  action(name: string): ResolvedAction | undefined;
  /** The action names, or null when any name resolves (an HTTP backend). */
  actionNames(): string[] | null;
}

/** A provided service's handle: `close()` stops providing it. */
export interface ProvidedService {
  /** The service name. */
  readonly name: string;
  /** Stops providing the service on this node; idempotent. */
  close(): void;
}

/** Checks and freezes `actions` into a {@link LocalService}; throws an Error naming the problem. */
export function serviceOf(name: string, actions: ServiceActions): LocalService {
  const p = serviceNameProblem(name);
  if (p !== undefined) throw new Error(`bad service name ${JSON.stringify(name)}: ${p}`);
  if (typeof actions !== "object" || actions === null) {
    throw new Error(`service ${name}: the actions must be an object of handlers`);
  }
  const map = new Map<string, ResolvedAction>();
  for (const [action, spec] of Object.entries(actions)) {
    const q = actionNameProblem(action);
    if (q !== undefined) throw new Error(`service ${name}: ${q}`);
    const handler = typeof spec === "function" ? spec : spec?.handler;
    if (typeof handler !== "function") {
      throw new Error(`service ${name}: action ${action} needs a handler function`);
    }
    const idempotent = typeof spec === "function" ? false : spec.idempotent === true;
    map.set(action, { handler, idempotent });
  }
  if (map.size === 0) throw new Error(`service ${name}: no actions`);
  return {
    name,
    action: (a) => map.get(a),
    actionNames: () => [...map.keys()],
  };
}

/** The services provided on this node. */
export class LocalServices {
  readonly #services = new Map<string, LocalService>();
  readonly #listeners = new Set<(names: string[]) => void>();

  /**
   * Provides `service` on this node. Throws when a service of that name is already provided
   * here (close its handle first).
   */
  add(service: LocalService): ProvidedService {
    if (this.#services.has(service.name)) {
      throw new Error(`service ${service.name} is already provided on this node`);
    }
    this.#services.set(service.name, service);
    this.#changed();
    let open = true;
    return {
      name: service.name,
      close: () => {
        if (!open) return;
        open = false;
        if (this.#services.get(service.name) === service) {
          this.#services.delete(service.name);
          this.#changed();
        }
      },
    };
  }

  /** The service, if provided here. */
  get(name: string): LocalService | undefined {
    return this.#services.get(name);
  }

  /** The names of the services provided here, sorted. */
  names(): string[] {
    return [...this.#services.keys()].sort();
  }

  /** Hears of every change of the names provided; returns the unsubscribe function. */
  subscribe(fn: (names: string[]) => void): () => void {
    this.#listeners.add(fn);
    return () => this.#listeners.delete(fn);
  }

  #changed(): void {
    const names = this.names();
    for (const fn of this.#listeners) fn(names);
  }
}
