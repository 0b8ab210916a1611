/**
 * The log lines of peers' health transitions, and their count by state: a leader that falls
 * behind marks thousands of members degraded or down at once, so the lines of each state are held
 * to a budget (lib/log/summary.ts): the first ones as they come, then one line an interval saying
 * how many more peers went so. Every transition is counted
 * (`weft_peer_health_transitions_total{state}`), written or not.
 * @module
 */

import type { HealthEvent } from "../health/health.ts";
import { HEALTH_STATES, type HealthState } from "../health/state.ts";
import type { LogFields, Logger } from "../log/logger.ts";
import { KindBudgets, type KindBudgetsOptions } from "../log/summary.ts";

/** Transitions' lines written per state before the budget holds them back. */
export const HEALTH_LOG_BURST = 10;

/** How often the lines held back are summed, per state, ms. */
export const HEALTH_LOG_INTERVAL_MS = 10_000;

/** Writes and counts health transitions. See the module docs. */
export class HealthLog {
  readonly #logger: Logger;
  readonly #budgets: KindBudgets<HealthState>;
  readonly #counts = Object.fromEntries(HEALTH_STATES.map((s) => [s, 0])) as Record<
    HealthState,
    number
  >;

  /** Lines to `logger`; `opts`: the budget's (tests give a timer and a clock). */
  constructor(
    logger: Logger,
    opts: Omit<KindBudgetsOptions<HealthState>, "summary"> = {},
  ) {
    this.#logger = logger;
    this.#budgets = new KindBudgets<HealthState>({
      burst: HEALTH_LOG_BURST,
      intervalMs: HEALTH_LOG_INTERVAL_MS,
      ...opts,
      summary: (state, left) => this.#sum(state, left),
    });
  }

  /** Transitions so far, by the state entered. */
  counts(): Readonly<Record<HealthState, number>> {
    return { ...this.#counts };
  }

  /** A transition: counted, and written within its state's budget (`fields` name the peer). */
  event(e: HealthEvent, fields: () => LogFields): void {
    this.#counts[e.to]++;
    if (!this.#budgets.take(e.to)) return;
    const line = { ...fields(), from: e.from, reason: e.reason };
    if (e.to === "up") this.#logger.info(`peer ${e.to}`, line);
    else this.#logger.warn(`peer ${e.to}`, line);
  }

  /** Says what was held back now (the agent stops). */
  close(): void {
    this.#budgets.flush();
  }

  #sum(state: HealthState, left: number): void {
    const seconds = Math.round(this.#budgets.intervalMs / 1000);
    const text = `${left} more peers ${state} in the last ${seconds} s`;
    const fields = { state, more: left };
    if (state === "up") this.#logger.info(text, fields);
    else this.#logger.warn(text, fields);
  }
}
