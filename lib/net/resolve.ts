/**
 * Underlay endpoints written as names (`leader.example.com:51820`) turned into IP-literal
 * endpoints through the system resolver (getaddrinfo: /etc/hosts, DNS, whatever NSS is set up
 * with), bounded in time and in how many lookups run at once.
 * @module
 */

import { lookup as dnsLookup } from "node:dns/promises";
import { isIP } from "./ip.ts";
import { formatHostPort, parseHostPort } from "./hostport.ts";

/** Looks up a host name; resolves with its addresses, best first. */
export type NameLookup = (host: string) => Promise<string[]>;

/** The system resolver (getaddrinfo, so /etc/hosts counts, unlike a DNS-only client). */
export const systemLookup: NameLookup = async (host) =>
  (await dnsLookup(host, { all: true })).map((a) => a.address);

/** A `host:port` endpoint split in two; `ip` tells whether the host is an IP literal. */
export interface SplitEndpoint {
  host: string;
  port: number;
  ip: boolean;
}

/**
 * Splits `a.b.c.d:port`, `[v6]:port` or `name:port`; null when it is none of them. Endpoints
 * read here come from tokens and member records, checked where they were made; a name is only
 * required to be one word, and the resolver says whether it has addresses.
 */
export function splitEndpoint(text: string): SplitEndpoint | null {
  try {
    const hp = parseHostPort(text, { host: "any" });
    return { ...hp, ip: isIP(hp.host) };
  } catch {
    return null;
  }
}

/** True when an endpoint names its host by IP address (no resolution needed). */
export function isIpEndpoint(text: string): boolean {
  return splitEndpoint(text)?.ip === true;
}

/** A lookup that did not finish in time. */
export class ResolveTimeout extends Error {}

/**
 * Resolves endpoints. A lookup cannot be cancelled, so the time bound only frees the caller;
 * the number of lookups still running (answered or not) is capped, later ones wait their turn.
 */
export class EndpointResolver {
  readonly #lookup: NameLookup;
  readonly #timeoutMs: number;
  readonly #max: number;
  #running = 0;
  readonly #waiting: (() => void)[] = [];

  constructor(opts: { lookup?: NameLookup; timeoutMs?: number; maxInFlight?: number } = {}) {
    this.#lookup = opts.lookup ?? systemLookup;
    this.#timeoutMs = opts.timeoutMs ?? 5000;
    this.#max = opts.maxInFlight ?? 4;
  }

  /**
   * The IP-literal endpoints for `text`, best first: itself when it is one, else its name's
   * addresses. Rejects when the text is no endpoint, the name has no address, or the lookup
   * takes longer than the time bound (waiting for a turn included).
   */
  resolve(text: string): Promise<string[]> {
    const ep = splitEndpoint(text);
    if (!ep) return Promise.reject(new Error(`"${text}" is not HOST:PORT`));
    if (ep.ip) return Promise.resolve([formatHostPort(ep)]);
    return new Promise<string[]>((resolve, reject) => {
      let done = false;
      const timer = setTimeout(() => {
        done = true;
        const i = this.#waiting.indexOf(start);
        if (i >= 0) this.#waiting.splice(i, 1);
        reject(new ResolveTimeout(`looking up ${ep.host} took longer than ${this.#timeoutMs} ms`));
      }, this.#timeoutMs);
      const start = () => {
        this.#running++;
        this.#lookup(ep.host).then(
          (addrs) => {
            if (done) return;
            const usable = addrs.filter(isIP);
            if (usable.length) {
              resolve(usable.map((a) => formatHostPort({ host: a, port: ep.port })));
            } else reject(new Error(`${ep.host} has no address`));
          },
          (e) => {
            if (!done) reject(new Error(`cannot resolve ${ep.host}: ${describe(e)}`));
          },
        ).finally(() => {
          done = true;
          clearTimeout(timer);
          this.#running--;
          this.#waiting.shift()?.();
        });
      };
      if (this.#running < this.#max) start();
      else this.#waiting.push(start);
    });
  }
}

function describe(e: unknown): string {
  const code = (e as { code?: unknown })?.code;
  return typeof code === "string" ? code : String((e as Error)?.message ?? e);
}
