/**
 * Dialling through an HTTP proxy: a TCP connection to the proxy, `CONNECT host:port HTTP/1.1`,
 * the proxy's answer read with bounds (its head at most `maxHeadBytes`, within `headTimeoutMs`),
 * and on a 2xx the connection handed back as a byte stream to `host:port`, for whatever runs on
 * it next (the TCP transport's framing; a WebSocket handshake). Anything else is a
 * {@link ProxyError} saying what the proxy did, by a reason that is counted.
 *
 * The head is read a few bytes at a time, never more than the bytes that could complete its
 * blank line: nothing past the head is consumed, so the connection comes back exactly at the
 * tunnel's first byte and no "bytes read past the head" need carrying. A head is a few hundred
 * bytes, once per connection.
 * @module
 */

/** Why a dial through the proxy failed, as counted. */
export type ProxyFailure =
  /** The proxy itself could not be connected to. */
  | "unreachable"
  /** It answered 407 (or 401): credentials missing or wrong. */
  | "auth"
  /** It answered another status than 2xx (403, 502, ...). */
  | "denied"
  /** Its answer is not an HTTP response head. */
  | "bad-response"
  /** Its answer's head is longer than allowed. */
  | "head-too-large"
  /** The connection or the head took too long. */
  | "timeout"
  /** It closed the connection before its head ended. */
  | "closed";

/** Every {@link ProxyFailure}, in the order counters list them. */
export const PROXY_FAILURES: readonly ProxyFailure[] = [
  "unreachable",
  "auth",
  "denied",
  "bad-response",
  "head-too-large",
  "timeout",
  "closed",
];

/** A dial through the proxy that failed; the message names the proxy and the target. */
export class ProxyError extends Error {
  /** Why, as counted. */
  readonly reason: ProxyFailure;
  /** The status the proxy answered, for `auth` and `denied`. */
  readonly status?: number;

  /** An error of `reason` (with the proxy's `status`) and `message`. */
  constructor(
    reason: ProxyFailure,
    message: string,
    options?: { status?: number; cause?: unknown },
  ) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = "ProxyError";
    this.reason = reason;
    if (options?.status !== undefined) this.status = options.status;
  }
}

/** Counters of a {@link ProxyConnector}. */
export interface ProxyStats {
  /** Tunnels the proxy opened (2xx). */
  connects: number;
  /** Dials that failed, by reason. */
  failures: Record<ProxyFailure, number>;
  /** Dials that went straight to their target (`NO_PROXY`). */
  bypassed: number;
}

/** Zeroed {@link ProxyStats}. */
export function newProxyStats(): ProxyStats {
  const failures = {} as Record<ProxyFailure, number>;
  for (const r of PROXY_FAILURES) failures[r] = 0;
  return { connects: 0, failures, bypassed: 0 };
}

/** Opens a TCP connection (`Deno.connect` by default; tests pass a stand-in). */
export type ConnectFn = (
  o: { hostname: string; port: number; signal?: AbortSignal },
) => Promise<Deno.TcpConn>;

/** Options of a {@link ProxyConnector}. */
export interface ProxyConnectorOptions {
  /** The proxy's host (IPv6 without brackets). */
  host: string;
  /** The proxy's port. */
  port: number;
  /** The proxy as errors, logs and status name it: no credentials (`http://host:port`). */
  label: string;
  /** The `Proxy-Authorization` header's value, when the proxy wants credentials. */
  authorization?: string;
  /** Targets reached without the proxy (`NO_PROXY`); by default none. */
  bypass?: (host: string, port: number) => boolean;
  /** The longest head accepted from the proxy (default 8,192 bytes). */
  maxHeadBytes?: number;
  /** How long the proxy may take to answer the CONNECT (default 10,000 ms). */
  headTimeoutMs?: number;
  /** Opens TCP connections; default `Deno.connect`. */
  connect?: ConnectFn;
}

/** `host:port` as a request target: IPv6 in brackets. */
function authority(host: string, port: number): string {
  return host.includes(":") ? `[${host}]:${port}` : `${host}:${port}`;
}

const CR = 13;
const LF = 10;

/**
 * How many bytes may be read without passing the head's end, given the `len` bytes read so far
 * into `buf`: what it takes to complete `\r\n\r\n` from its longest prefix the buffer ends in.
 */
function canRead(buf: Uint8Array, len: number): number {
  const at = (i: number) => (len - i >= 0 ? buf[len - i] : -1);
  if (at(3) === CR && at(2) === LF && at(1) === CR) return 1;
  if (at(2) === CR && at(1) === LF) return 2;
  if (at(1) === CR) return 3;
  return 4;
}

/** Dials targets through one HTTP proxy (CONNECT); see the module doc. */
export class ProxyConnector {
  /** Tunnels opened, failures by reason, bypasses. */
  readonly stats: ProxyStats = newProxyStats();
  /** The proxy as logs and status name it (no credentials). */
  readonly label: string;
  readonly #o: ProxyConnectorOptions;
  readonly #maxHead: number;
  readonly #headTimeout: number;
  readonly #connect: ConnectFn;
  readonly #request: (target: string) => Uint8Array;
  // The targets whose last dial went through the proxy, for status (bounded: see #remember).
  readonly #proxied = new Set<string>();

  /** A connector for the proxy `options` name. */
  constructor(options: ProxyConnectorOptions) {
    this.#o = options;
    this.label = options.label;
    this.#maxHead = options.maxHeadBytes ?? 8192;
    this.#headTimeout = options.headTimeoutMs ?? 10_000;
    if (!Number.isInteger(this.#maxHead) || this.#maxHead < 16) {
      throw new Error("proxy: maxHeadBytes must be an integer of 16 or more");
    }
    if (!(this.#headTimeout > 0)) throw new Error("proxy: headTimeoutMs must be positive");
    this.#connect = options.connect ??
      ((o) =>
        Deno.connect({ transport: "tcp", hostname: o.hostname, port: o.port, signal: o.signal }));
    const auth = options.authorization;
    if (auth !== undefined && /[\r\n]/.test(auth)) {
      throw new Error("proxy: the authorization holds a line break");
    }
    const enc = new TextEncoder();
    this.#request = (target) =>
      enc.encode(
        `CONNECT ${target} HTTP/1.1\r\nHost: ${target}\r\n` +
          (auth !== undefined ? `Proxy-Authorization: ${auth}\r\n` : "") + "\r\n",
      );
  }

  /** Whether the last dial to `host:port` went through the proxy. */
  proxied(host: string, port: number): boolean {
    return this.#proxied.has(authority(host.toLowerCase(), port));
  }

  #remember(target: string, through: boolean): void {
    if (!through) {
      this.#proxied.delete(target);
      return;
    }
    // Endpoints come and go; a forgotten one only loses its `proxied` mark in status.
    if (this.#proxied.size >= 4096) this.#proxied.clear();
    this.#proxied.add(target);
  }

  /**
   * Opens a byte stream to `hostname:port`: straight there when the bypass list says so, else
   * through the proxy. Rejects with a {@link ProxyError} when the proxy cannot be reached or does
   * not open the tunnel; `signal` aborts it (the connection is closed).
   */
  async dial(o: { hostname: string; port: number; signal?: AbortSignal }): Promise<Deno.TcpConn> {
    const target = authority(o.hostname.toLowerCase(), o.port);
    if (this.#o.bypass?.(o.hostname, o.port)) {
      this.stats.bypassed++;
      this.#remember(target, false);
      return await this.#connect(o);
    }
    const conn = await this.#open(target, o.signal);
    this.#remember(target, true);
    return conn;
  }

  /** Counts a failure and makes its error, for the caller to throw. */
  #fail(
    reason: ProxyFailure,
    text: string,
    extra?: { status?: number; cause?: unknown },
  ): ProxyError {
    this.stats.failures[reason]++;
    return new ProxyError(reason, text, extra);
  }

  async #open(target: string, signal: AbortSignal | undefined): Promise<Deno.TcpConn> {
    const proxy = this.label;
    let conn: Deno.TcpConn;
    try {
      conn = await this.#connect({ hostname: this.#o.host, port: this.#o.port, signal });
    } catch (e) {
      const why = signal?.aborted ? "timed out" : e instanceof Error ? e.message : String(e);
      throw this.#fail(
        signal?.aborted ? "timeout" : "unreachable",
        `proxy ${proxy} is unreachable (${why}), so ${target} cannot be dialled through it`,
        { cause: e },
      );
    }
    let timedOut = false;
    const stop = () => {
      timedOut = true;
      try {
        conn.close();
      } catch {
        // Closed already.
      }
    };
    const timer = setTimeout(stop, this.#headTimeout);
    signal?.addEventListener("abort", stop, { once: true });
    try {
      const req = this.#request(target);
      for (let off = 0; off < req.length;) off += await conn.write(req.subarray(off));
      const head = await this.#readHead(conn, target);
      const status = this.#status(head, target);
      if (status >= 200 && status < 300) {
        this.stats.connects++;
        return conn;
      }
      const line = head.slice(0, head.indexOf("\r\n")).replace(/^HTTP\/1\.[01] /, "");
      // 407 is the status for this; some proxies (tinyproxy) answer wrong credentials with 401.
      const auth = status === 407 || status === 401;
      const hint = auth
        ? this.#o.authorization === undefined
          ? " (it wants credentials: http://user:password@host:port)"
          : " (it did not take the credentials given)"
        : "";
      throw this.#fail(
        auth ? "auth" : "denied",
        `proxy ${proxy} refused CONNECT to ${target}: ${line}${hint}`,
        { status },
      );
    } catch (e) {
      try {
        conn.close();
      } catch {
        // Closed by the timer or the abort.
      }
      if (e instanceof ProxyError) throw e;
      if (timedOut) {
        throw this.#fail("timeout", `proxy ${proxy} did not answer CONNECT to ${target} in time`, {
          cause: e,
        });
      }
      throw this.#fail(
        "closed",
        `proxy ${proxy} closed the connection before answering CONNECT to ${target}`,
        { cause: e },
      );
    } finally {
      clearTimeout(timer);
      signal?.removeEventListener("abort", stop);
    }
  }

  /** Reads the response head up to and with its blank line, never a byte past it. */
  async #readHead(conn: Deno.TcpConn, target: string): Promise<string> {
    const buf = new Uint8Array(this.#maxHead);
    let len = 0;
    for (;;) {
      if (
        len >= 4 && buf[len - 4] === CR && buf[len - 3] === LF && buf[len - 2] === CR &&
        buf[len - 1] === LF
      ) {
        return new TextDecoder("latin1").decode(buf.subarray(0, len));
      }
      if (len === this.#maxHead) {
        throw this.#fail(
          "head-too-large",
          `proxy ${this.label} answered CONNECT to ${target} with a head over ${this.#maxHead} bytes`,
        );
      }
      const want = Math.min(canRead(buf, len), this.#maxHead - len);
      const n = await conn.read(buf.subarray(len, len + want));
      if (n === null) {
        if (len === 0) throw new Error("closed");
        throw this.#fail(
          "closed",
          `proxy ${this.label} closed the connection in the middle of its answer to CONNECT ` +
            `to ${target}`,
        );
      }
      len += n;
      // A response head is text: a NUL, or a first byte that cannot start `HTTP/`, is not one.
      if (buf[0] !== 0x48 || buf.subarray(len - n, len).includes(0)) {
        throw this.#fail(
          "bad-response",
          `proxy ${this.label} did not answer CONNECT to ${target} with HTTP (is it an HTTP proxy?)`,
        );
      }
    }
  }

  /** The status code of a head; a {@link ProxyError} when its status line is not HTTP's. */
  #status(head: string, target: string): number {
    const m = /^HTTP\/1\.[01] ([1-5][0-9]{2})(?: [^\r\n]*)?\r\n/.exec(head);
    if (m === null) {
      throw this.#fail(
        "bad-response",
        `proxy ${this.label} did not answer CONNECT to ${target} with HTTP (is it an HTTP proxy?)`,
      );
    }
    return Number(m[1]);
  }
}
