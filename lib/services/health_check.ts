/**
 * Health checks of services on this node: a TCP connect or an HTTP GET, every interval, with a
 * timeout. The first result decides at once; after that, `fall` failures in a row make a
 * healthy service unhealthy and `rise` successes in a row bring it back, so one slow answer
 * does not flap it. A failing service is announced `healthy: false` in this node's member
 * record (see mesh_services.ts): it leaves DNS, the rotation of calls and its leader election.
 *
 * Text form, as a flag would take it: `NAME=TARGET[,interval=5s][,timeout=2s][,rise=2][,fall=3]`
 * where TARGET is `tcp://HOST:PORT` or an `http://` or `https://` URL (a 2xx or 3xx answer to a
 * GET passes); parsed by {@link parseServiceCheck} (lib/members/service_backends.ts).
 * @module
 */

import type { CheckTarget, ServiceCheckSpec } from "../members/service_backends.ts";
import { tcpConnects } from "../io/tcp_probe.ts";

// The text form lives with the other rules for services (lib/members), where the configuration
// reads it too.
export {
  type CheckTarget,
  parseServiceCheck,
  type ServiceCheckSpec,
} from "../members/service_backends.ts";

/** Runs one check: true when it passed within `timeoutMs`. */
export type CheckProbe = (timeoutMs: number) => Promise<boolean>;

/** The probe for a target: a TCP connect, or an HTTP GET whose status is 2xx or 3xx. */
export function probeFor(target: CheckTarget): CheckProbe {
  if (target.kind === "tcp") {
    return (timeoutMs) => tcpConnects(target.host, target.port, timeoutMs);
  }
  return async (timeoutMs) => {
    const ctl = new AbortController();
    const timer = setTimeout(() => ctl.abort(), timeoutMs);
    try {
      const res = await fetch(target.url, { signal: ctl.signal, redirect: "manual" });
      await res.body?.cancel();
      return res.status >= 200 && res.status < 400;
    } catch {
      return false;
    } finally {
      clearTimeout(timer);
    }
  };
}

/** A running health check of one service; see the module docs. */
export class ServiceHealthCheck {
  /** The service checked. */
  readonly service: string;
  readonly #probe: CheckProbe;
  readonly #interval: number;
  readonly #timeout: number;
  readonly #rise: number;
  readonly #fall: number;
  readonly #onChange: (healthy: boolean) => void;
  #healthy: boolean | null = null;
  #streak = 0;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #running = false;
  #stopped = false;
  /** Checks run, and of those failed. */
  readonly counts = { checks: 0, failures: 0 };

  /** A stopped check of `service`; `onChange` hears every change of its health. */
  constructor(
    service: string,
    spec: ServiceCheckSpec,
    onChange: (healthy: boolean) => void,
    probe: CheckProbe = probeFor(spec.target),
  ) {
    this.service = service;
    this.#probe = probe;
    this.#interval = spec.intervalMs ?? 5000;
    this.#timeout = spec.timeoutMs ?? 2000;
    this.#rise = spec.rise ?? 2;
    this.#fall = spec.fall ?? 3;
    this.#onChange = onChange;
  }

  /** True or false once the first check ended; null before. */
  get healthy(): boolean | null {
    return this.#healthy;
  }

  /** Checks now, then every interval. */
  start(): void {
    if (this.#running || this.#stopped) return;
    this.#running = true;
    void this.#loop();
  }

  /** Runs one check and applies it; resolves with the health after it. */
  async checkNow(): Promise<boolean> {
    const ok = await this.#probe(this.#timeout).catch(() => false);
    if (!this.#stopped) this.#apply(ok);
    return this.#healthy ?? ok;
  }

  /** Stops checking; idempotent. */
  stop(): void {
    this.#stopped = true;
    clearTimeout(this.#timer);
  }

  async #loop(): Promise<void> {
    await this.checkNow();
    if (this.#stopped) return;
    this.#timer = setTimeout(() => void this.#loop(), this.#interval);
  }

  #apply(ok: boolean): void {
    this.counts.checks++;
    if (!ok) this.counts.failures++;
    if (this.#healthy === null) {
      this.#set(ok);
      return;
    }
    if (ok === this.#healthy) {
      this.#streak = 0;
      return;
    }
    this.#streak++;
    if (this.#streak >= (ok ? this.#rise : this.#fall)) this.#set(ok);
  }

  #set(healthy: boolean): void {
    this.#streak = 0;
    const changed = this.#healthy !== healthy;
    this.#healthy = healthy;
    if (changed) this.#onChange(healthy);
  }
}
