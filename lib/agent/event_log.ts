/**
 * The log lines of the device's events. A completed handshake and a peer's new endpoint come
 * from peers, as many as there are peers: a leader of thousands completes a handshake a join and
 * hundreds a minute of rekeys, and any member can make more. Those lines are held to a budget per
 * kind (lib/log/summary.ts): the first ones as they come, then one line an interval saying how
 * many more there were. A handshake given up on is a warning, never held back; the initiations
 * and key wipes are debug lines.
 * @module
 */

import type { DeviceEvent } from "../device/types.ts";
import type { LogFields, Logger } from "../log/logger.ts";
import { KindBudgets, type KindBudgetsOptions } from "../log/summary.ts";

/** Lines of a crowd's kind written before the budget holds them back. */
export const EVENT_LOG_BURST = 10;

/** How often the lines held back are summed, per kind, ms. */
export const EVENT_LOG_INTERVAL_MS = 10_000;

/** The kinds of event lines a crowd of peers causes, and that are budgeted. */
type CrowdKind = "handshake-complete" | "endpoint-changed";

/** Writes the device's events as log lines. See the module docs. */
export class DeviceEventLog {
  readonly #logger: Logger;
  readonly #budgets: KindBudgets<CrowdKind>;

  /** Lines to `logger`; `opts`: the budget's (tests give a timer and a clock). */
  constructor(logger: Logger, opts: Omit<KindBudgetsOptions<CrowdKind>, "summary"> = {}) {
    this.#logger = logger;
    this.#budgets = new KindBudgets<CrowdKind>({
      burst: EVENT_LOG_BURST,
      intervalMs: EVENT_LOG_INTERVAL_MS,
      ...opts,
      summary: (kind, left) => this.#sum(kind, left),
    });
  }

  /** An event, its line written (or counted for a summary); `fields` name the peer. */
  event(e: DeviceEvent, fields: (peer: string) => LogFields): void {
    const { type, peer, ...rest } = e;
    switch (type) {
      case "handshake-give-up":
        this.#logger.warn(type, { ...fields(peer), ...rest });
        return;
      case "keys-zeroed":
      case "handshake-initiated":
        if (this.#logger.enabled("debug")) this.#logger.debug(type, { ...fields(peer), ...rest });
        return;
      default:
        // Fields are made only for a line written: a held-back line costs a count.
        if (this.#budgets.take(type)) this.#logger.info(type, { ...fields(peer), ...rest });
    }
  }

  /** Says what was held back now (the agent stops). */
  close(): void {
    this.#budgets.flush();
  }

  #sum(kind: CrowdKind, left: number): void {
    const seconds = Math.round(this.#budgets.intervalMs / 1000);
    this.#logger.info(`${left} more ${kind} lines in the last ${seconds} s`, {
      kind,
      more: left,
    });
  }
}
