/**
 * The one lifecycle every part of a mesh agent has, and the list that drives it: parts start in
 * the list's order, hear each new membership view in that order once started, and close in the
 * reverse order. The order itself is chosen, with its reasons, in one place: compose.ts.
 * @module
 */

import type { Logger } from "../log/logger.ts";
import type { MembershipView, ViewChange } from "../members/member.ts";

/** A part of a mesh agent: made by the composition root, then started, told, closed. */
export interface MeshPart {
  /** Starts the part, once every part before it in the list has started. */
  start?(): void | Promise<void>;
  /**
   * A new membership view (a new version), in list order; only after the part started.
   * `change`: how it differs from the last view this part heard, when known (null: take it
   * whole, as the first view after its start always is).
   */
  viewChanged?(view: MembershipView, change: ViewChange | null): void;
  /**
   * Stops the part, after every part after it in the list has stopped. Called whether or not
   * the part started (a failed start closes every part made), and safe to call twice.
   */
  close(): void | Promise<void>;
}

/** A part with the name its failures are logged under. */
export interface NamedPart {
  /** What the logs call it (`paths`, `leases`). */
  name: string;
  /** The part. */
  part: MeshPart;
}

/** Drives the parts' lifecycle in the order they are listed in. */
export class PartList {
  readonly #parts: readonly NamedPart[];
  readonly #logger: Logger;
  // How many parts, from the first, have started: only those hear views.
  #started = 0;
  // The version of the last view each started part heard (none yet: its first is whole).
  readonly #heard: (number | undefined)[] = [];
  #closed = false;

  /** The parts in start order (see compose.ts for why that order). */
  constructor(parts: readonly NamedPart[], logger: Logger) {
    this.#parts = parts;
    this.#logger = logger;
  }

  /** The parts' names in start order. */
  get names(): string[] {
    return this.#parts.map((p) => p.name);
  }

  /** Starts the parts one after the other; a part that throws stops the start there. */
  async start(): Promise<void> {
    for (const { part } of this.#parts) {
      if (this.#closed) return;
      await part.start?.();
      this.#started++;
    }
  }

  /**
   * Hands a new view to the started parts, in list order, with `change` to those that heard the
   * view it starts from (the others take it whole).
   */
  viewChanged(view: MembershipView, change: ViewChange | null = null): void {
    for (let i = 0; i < this.#started && !this.#closed; i++) {
      const heard = this.#heard[i];
      // Marked as having heard the view only once it returns: a part that threw partway holds
      // some state between the two views, so its next view is whole.
      this.#heard[i] = undefined;
      this.#parts[i].part.viewChanged?.(
        view,
        change !== null && change.from === heard ? change : null,
      );
      this.#heard[i] = view.version;
    }
  }

  /**
   * Closes every part, last listed first, each even when one before it failed (logged); then
   * rejects with the first failure, if any.
   */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    let failure: unknown = undefined;
    for (let i = this.#parts.length - 1; i >= 0; i--) {
      const { name, part } = this.#parts[i];
      try {
        await part.close();
      } catch (e) {
        this.#logger.error("closing a mesh part failed", { part: name, error: String(e) });
        failure ??= e;
      }
    }
    if (failure !== undefined) throw failure;
  }
}
