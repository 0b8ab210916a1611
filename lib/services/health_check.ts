/**
 * Health checks of services on this node: a TCP connect or an HTTP GET, every interval, with a
 * timeout. The first result decides at once; after that, `fall` failures in a row make a
 * healthy service unhealthy and `rise` successes in a row bring it back, so one slow answer
 * does not flap it. A failing service is announced `healthy: false` in this node's member
 * record (see mesh_services.ts): it leaves DNS, the rotation of calls and its leader election.
 *
 * Text form, as a flag would take it: `NAME=TARGET[,interval=5s][,timeout=2s][,rise=2][,fall=3]`
 * where TARGET is `tcp://HOST:PORT` or an `http://` or `https://` URL (a 2xx or 3xx answer to a
 * GET passes). The URL may not contain a comma.
 * @module
 */

import { serviceNameProblem } from "../members/services.ts";
import { parseDuration } from "../text/duration.ts";
import { quote } from "../text/quote.ts";

/** What is checked. */
export type CheckTarget =
  | { kind: "tcp"; host: string; port: number }
  | { kind: "http"; url: string };

/** A service's health check. */
export interface ServiceCheckSpec {
  /** The target. */
  target: CheckTarget;
  /** How often, ms. Default 5000. */
  intervalMs?: number;
  /** How long one check may take, ms. Default 2000. */
  timeoutMs?: number;
  /** Successes in a row that make an unhealthy service healthy. Default 2. */
  rise?: number;
  /** Failures in a row that make a healthy service unhealthy. Default 3. */
  fall?: number;
}

/**
 * Parses `NAME=TARGET[,key=value...]`; throws an Error naming the text and what is wrong.
 *
 * @example
 * ```ts
 * import { parseServiceCheck } from "@weft/weft";
 * parseServiceCheck("api=http://127.0.0.1:8080/health,interval=2s,fall=2");
 * // { service: "api", check: { target: { kind: "http", url: "..." }, intervalMs: 2000, fall: 2 } }
 * ```
 */
export function parseServiceCheck(text: string): { service: string; check: ServiceCheckSpec } {
  const bad = (why: string) => new Error(`invalid service check ${quote(text)}: ${why}`);
  const [head, ...opts] = text.split(",");
  const eq = head.indexOf("=");
  if (eq < 0) throw bad("expected NAME=TARGET, as in api=tcp://127.0.0.1:8080");
  const service = head.slice(0, eq).trim().toLowerCase();
  const p = serviceNameProblem(service);
  if (p !== undefined) throw bad(`the name ${p}`);
  const check: ServiceCheckSpec = { target: parseTarget(head.slice(eq + 1).trim(), bad) };
  for (const o of opts) {
    const [k, v] = o.split("=", 2).map((x) => x.trim());
    if (v === undefined || v === "") throw bad(`expected KEY=VALUE, got ${quote(o)}`);
    if (k === "interval" || k === "timeout") {
      let ms: number;
      try {
        ms = parseDuration(v);
      } catch (e) {
        throw bad((e as Error).message);
      }
      if (!(ms >= 100 && ms <= 3_600_000)) throw bad(`the ${k} must be 100ms to 1h`);
      if (k === "interval") check.intervalMs = ms;
      else check.timeoutMs = ms;
    } else if (k === "rise" || k === "fall") {
      if (!/^[0-9]{1,2}$/.test(v) || Number(v) < 1) throw bad(`${k} must be 1 to 99`);
      check[k] = Number(v);
    } else throw bad(`unknown option ${quote(k)} (interval, timeout, rise, fall)`);
  }
  return { service, check };
}

function parseTarget(raw: string, bad: (why: string) => Error): CheckTarget {
  if (raw.startsWith("tcp://")) {
    const m = /^tcp:\/\/(\[[0-9a-fA-F:.]+\]|[^:/\[\]]+):([0-9]{1,5})$/.exec(raw);
    if (!m || Number(m[2]) < 1 || Number(m[2]) > 65535) {
      throw bad(`${quote(raw)} is not tcp://HOST:PORT`);
    }
    return { kind: "tcp", host: m[1].replace(/^\[|\]$/g, ""), port: Number(m[2]) };
  }
  let u: URL;
  try {
    u = new URL(raw);
  } catch {
    throw bad(`${quote(raw)} is neither tcp://HOST:PORT nor an http(s) URL`);
  }
  if (u.protocol !== "http:" && u.protocol !== "https:") {
    throw bad(`the target must be tcp://, http:// or https://, not ${u.protocol}//`);
  }
  return { kind: "http", url: u.href };
}

/** Runs one check: true when it passed within `timeoutMs`. */
export type CheckProbe = (timeoutMs: number) => Promise<boolean>;

/** The probe for a target: a TCP connect, or an HTTP GET whose status is 2xx or 3xx. */
export function probeFor(target: CheckTarget): CheckProbe {
  if (target.kind === "tcp") {
    return async (timeoutMs) => {
      const connecting = Deno.connect({ hostname: target.host, port: target.port });
      let timer: ReturnType<typeof setTimeout> | undefined;
      const late = new Promise<null>((r) => timer = setTimeout(() => r(null), timeoutMs));
      try {
        const conn = await Promise.race([connecting, late]);
        if (conn === null) {
          // Closed if it still comes.
          connecting.then((c) => c.close(), () => {});
          return false;
        }
        conn.close();
        return true;
      } catch {
        return false;
      } finally {
        clearTimeout(timer);
      }
    };
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
