/**
 * A client for an agent's HTTP server: what `weft status`, `weft ping`, `weft send`,
 * `weft recv` and the service commands (`weft call`, `publish`, `subscribe`, `service`) use, and
 * what programs can use to drive a running agent.
 * @module
 */

import type { NodeStatus, PeerStatus } from "../status/status.ts";
import type { PingResult } from "../agent/agent.ts";
import type { Member } from "../members/member.ts";
import type { TokenView } from "../mesh/join/token.ts";
import type { NodeRoutes } from "../mesh/leader/routes.ts";
import type { Prefs, PrefSettings } from "../mesh/prefs.ts";
import type { SegmentSpec, SegmentView } from "../policy/segment_admin.ts";
import type { CallExplanation, CallQuery } from "../policy/calls.ts";
import { decodeBase64, encodeBase64 } from "../crypto/base64.ts";
import { parseAddress } from "../net/ip.ts";
import { isServiceErrorCode, ServiceError } from "../services/errors.ts";
import type { RequestOptions } from "../services/client.ts";
import type { PublishMode, PublishResult } from "../services/pubsub.ts";
import type { ServiceEvent } from "../services/subscription.ts";
import type { ServiceLeaderView, ServiceView } from "./routes/services.ts";
import { bodyTooLargeText, MAX_BODY_BYTES, MAX_CALL_BODY_BYTES } from "./middleware/body_limit.ts";
import { VIEW_AGE_HEADER } from "./routes/view_age.ts";

/** The UTF-8 length of a string, without encoding it. */
function utf8Length(s: string): number {
  let n = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x80) n += 1;
    else if (c < 0x800) n += 2;
    else if (c >= 0xd800 && c <= 0xdbff && i + 1 < s.length) {
      n += 4; // a surrogate pair: one 4-byte character
      i++;
    } else n += 3;
  }
  return n;
}

/**
 * The agent answered a request with an error status; 4xx means the request was refused (bad
 * input, wrong token), 5xx that the agent failed.
 *
 * @example A request with the wrong token
 * ```ts run
 * import { Agent, generateKeyPair, serveControl } from "@weft/weft";
 * import { AgentAnswerError, ControlClient } from "@weft/weft/control";
 * const agent = await Agent.start({
 *   privateKey: generateKeyPair().privateKey,
 *   addresses: ["10.9.0.1/24"],
 *   listenPort: 52001,
 * });
 * const server = serveControl(agent, { listen: "127.0.0.1:0", token: crypto.randomUUID() });
 * try {
 *   await new ControlClient(server.address, "not-the-token").ping("10.9.0.1");
 * } catch (e) {
 *   if (e instanceof AgentAnswerError && e.status < 500) console.log("refused:", e.message);
 *   // prints: refused: agent answered 401: missing or wrong bearer token
 * }
 * await server.close();
 * await agent.close();
 * ```
 */
export class AgentAnswerError extends Error {
  /** The agent's answer: its HTTP `status` and the detail it gave. */
  constructor(readonly status: number, readonly detail: string) {
    super(`agent answered ${status}: ${detail}`);
  }
}

/** A datagram as `recv` yields it. */
export interface ReceivedDatagram {
  /** Sender overlay address. */
  address: string;
  /** Sender port. */
  port: number;
  /** Payload. */
  data: Uint8Array;
}

/** The node list `GET /v1/nodes` answers (`weft node list`). */
export interface NodeList {
  /** The view's version. */
  version: number;
  /** The overlay network (CIDR). */
  network: string;
  /** The members. */
  nodes: Member[];
  /**
   * How far behind the view in force the list may be, ms: the answer's `Weft-View-Age-Ms` (0
   * when the agent does not say). A leader serves a list of more than 1,000 members up to a
   * second behind while its view changes (docs/http-api.md); any other answer is the view in
   * force (0).
   */
  viewAgeMs: number;
}

/** `Weft-View-Age-Ms` as a number of ms: 0 when absent or not a count. */
function viewAgeOf(header: string | null): number {
  if (header === null || !/^\d{1,15}$/.test(header.trim())) return 0;
  return Number(header.trim());
}

/** Options of a {@linkcode ControlClient}. */
export interface ControlClientOptions {
  /**
   * The agent's unix socket (`<state-dir>/weft.sock`) to talk over instead of TCP: the operating
   * system lets only its owner connect, so no token is needed (or sent).
   */
  socket?: string;
}

/** Talks to the agent at `address` (`host:port`); the example of `@weft/weft/control` uses one. */
export class ControlClient {
  readonly #base: string;
  readonly #token?: string;
  readonly #socket?: string;
  #http: Deno.HttpClient | null = null;

  /**
   * A client of the agent at `address` (`host:port`), with its control token if it has one; with
   * `opts.socket`, of the agent on that unix socket (then `address` and `token` are not used).
   */
  constructor(address: string, token?: string, opts: ControlClientOptions = {}) {
    this.#socket = opts.socket;
    this.#base = opts.socket === undefined ? `http://${address}` : "http://localhost";
    // Never sent over the socket: the socket needs none, and a credential goes nowhere it is
    // not needed.
    this.#token = opts.socket === undefined ? token : undefined;
  }

  /** A client of the agent listening on the unix socket at `path` (see {@linkcode ControlClientOptions.socket}). */
  static overSocket(path: string): ControlClient {
    return new ControlClient("", undefined, { socket: path });
  }

  /** Where this client reaches the agent: `unix:<path>` or `http://host:port`. */
  get target(): string {
    return this.#socket === undefined ? this.#base : `unix:${this.#socket}`;
  }

  /** Releases the socket client's connections (nothing to do over TCP); again is a no-op. */
  close(): void {
    this.#http?.close();
    this.#http = null;
  }

  async #call(path: string, init: RequestInit = {}): Promise<Response> {
    const headers = new Headers(init.headers);
    if (this.#token) headers.set("authorization", `Bearer ${this.#token}`);
    if (this.#socket !== undefined) {
      this.#http ??= Deno.createHttpClient({ proxy: { transport: "unix", path: this.#socket } });
    }
    let res: Response;
    try {
      res = await fetch(this.#base + path, {
        ...init,
        headers,
        ...(this.#http ? { client: this.#http } : {}),
      });
    } catch (e) {
      // fetch's own message ("fetch failed") hides the reason in its cause: say both.
      const why = e instanceof Error
        ? e.cause instanceof Error ? `${e.message}: ${e.cause.message}` : e.message
        : String(e);
      throw new Error(`cannot reach the agent at ${this.target}: ${why}`);
    }
    if (!res.ok) {
      const body = await res.text();
      let msg = body;
      let parsed: Record<string, unknown> | undefined;
      try {
        parsed = JSON.parse(body);
        msg = typeof parsed?.error === "string" ? parsed.error : body;
        // A refusal with several problems (a policy) lists them, one a line.
        const problems = parsed?.problems;
        if (Array.isArray(problems) && problems.length > 1) {
          msg += `:\n${problems.map((p) => `  ${String(p)}`).join("\n")}`;
        }
      } catch { /* not JSON */ }
      // A failed service call or publish says why with its code: the library's error, as is.
      if (parsed && isServiceErrorCode(parsed.code)) throw serviceErrorOf(parsed, msg);
      throw new AgentAnswerError(res.status, msg);
    }
    return res;
  }

  /**
   * As #json, for the service routes: a body over the agent's limit is a `too-large` error with
   * the agent's words, refused here before it is sent or by the agent (one limit, one message).
   */
  async #serviceJson<T>(path: string, body: unknown): Promise<T> {
    const text = JSON.stringify(body);
    const max = path === "/v1/services/call" ? MAX_CALL_BODY_BYTES : MAX_BODY_BYTES;
    if (utf8Length(text) > max) throw new ServiceError("too-large", bodyTooLargeText(max));
    try {
      return await this.#post<T>(path, text);
    } catch (e) {
      if (e instanceof AgentAnswerError && e.status === 413) {
        throw new ServiceError("too-large", e.detail);
      }
      throw e;
    }
  }

  /** GET `path`, or POST `body` to it as JSON; the JSON answer. */
  #json<T>(path: string, body?: unknown): Promise<T> {
    return body === undefined
      ? this.#call(path).then((res) => res.json() as T)
      : this.#post(path, JSON.stringify(body));
  }

  /** POSTs JSON text to `path`; the JSON answer. */
  async #post<T>(path: string, text: string): Promise<T> {
    const res = await this.#call(path, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: text,
    });
    return await res.json() as T;
  }

  /**
   * The mesh's members as this node knows them, and how far behind the view in force the list
   * may be ({@linkcode NodeList.viewAgeMs}).
   */
  async nodes(): Promise<NodeList> {
    const res = await this.#call("/v1/nodes");
    const list = await res.json() as Omit<NodeList, "viewAgeMs">;
    return { ...list, viewAgeMs: viewAgeOf(res.headers.get(VIEW_AGE_HEADER)) };
  }

  /** Removes a node by name or overlay address (leader). */
  async removeNode(id: string): Promise<Member> {
    const res = await this.#call(`/v1/nodes/${encodeURIComponent(id)}`, { method: "DELETE" });
    return (await res.json()).removed;
  }

  /**
   * Changes what a node was granted (leader): relaying for others, labels set or removed; the
   * node as it is now.
   */
  async setNode(
    id: string,
    change: { relay?: boolean; labels?: Record<string, string>; removeLabels?: string[] },
  ): Promise<Member> {
    const res = await this.#call(`/v1/nodes/${encodeURIComponent(id)}`, {
      method: "PATCH",
      headers: { "content-type": "application/json" },
      body: JSON.stringify(change),
    });
    return (await res.json()).node;
  }

  /** This node's preferences set at runtime and the labels and services in force (`weft set`). */
  prefs(): Promise<{ prefs: Prefs; settings: PrefSettings }> {
    return this.#json("/v1/prefs");
  }

  /**
   * Changes this node's preferences (`weft set`; over the local socket only): own labels set or
   * removed, services (`web:8080/tcp`) offered or removed, or `reset` to the configuration; the
   * preferences and what is in force now.
   */
  async setPrefs(change: {
    labels?: Record<string, string>;
    removeLabels?: string[];
    services?: string[];
    removeServices?: string[];
    advertiseRoutes?: string[];
    advertiseExitNode?: boolean;
    exitNode?: string | null;
    exitNodeAllowLanAccess?: boolean;
    exitNodeFallback?: boolean;
    acceptRoutes?: boolean;
    reset?: boolean;
  }): Promise<{ prefs: Prefs; settings: PrefSettings }> {
    const res = await this.#call("/v1/prefs", {
      method: "PATCH",
      headers: { "content-type": "application/json" },
      body: JSON.stringify(change),
    });
    return await res.json();
  }

  /** Every node's routes: advertised, approved, carried (`weft route list`). */
  async routes(): Promise<NodeRoutes[]> {
    return (await this.#json<{ routes: NodeRoutes[] }>("/v1/routes")).routes;
  }

  /**
   * Approves routes for a node or revokes approvals (leader): prefixes, or `exit`; the node as it
   * is now. An approval covering nothing the node advertises is refused unless `preApprove`.
   */
  async setRoutes(
    id: string,
    change: { approve?: string[]; revoke?: string[]; preApprove?: boolean },
  ): Promise<Member> {
    const path = `/v1/nodes/${encodeURIComponent(id)}/routes`;
    return (await this.#json<{ node: Member }>(path, change)).node;
  }

  /**
   * Creates a join token (leader): its nodes get `labels`, may offer `services`, and with
   * `relay` may relay for others.
   */
  createToken(
    opts: {
      ttl?: string;
      uses?: number;
      labels?: Record<string, string>;
      services?: string[];
      relay?: boolean;
      /** Routes its nodes may carry without `route approve` (prefixes, `exit`). */
      approveRoutes?: string[];
      /** The name its node gets, whatever the node asks for. */
      hostname?: string;
    } = {},
  ): Promise<{ id: string; token: string; expiresAt: string }> {
    return this.#json("/v1/tokens", opts);
  }

  /** Frees a removed node's name before its grace period ends (leader). */
  async freeName(name: string): Promise<void> {
    await (await this.#call(`/v1/names/${encodeURIComponent(name)}`, { method: "DELETE" })).body
      ?.cancel();
  }

  /**
   * Replaces the agent's control token with a new one, written to its `control.token` (the old
   * one stops working at once). Over the unix socket only: a token that leaked cannot rotate
   * itself out of its owner's hands.
   */
  async rotateControlToken(): Promise<void> {
    await this.#json<{ rotated: boolean }>("/v1/control/rotate-token", {});
  }

  /** Lists join tokens (leader). */
  async listTokens(): Promise<TokenView[]> {
    return (await this.#json<{ tokens: TokenView[] }>("/v1/tokens")).tokens;
  }

  /** Revokes a join token (leader). */
  async revokeToken(id: string): Promise<void> {
    await (await this.#call(`/v1/tokens/${encodeURIComponent(id)}`, { method: "DELETE" })).body
      ?.cancel();
  }

  /**
   * Applies a policy file's text at the leader; returns the policy version in force and the
   * leader's warnings (label selectors no member matches). A policy the leader refuses (every
   * problem listed) rejects with an {@link AgentAnswerError} (400).
   */
  applyPolicy(text: string): Promise<{ version: number; warnings: string[] }> {
    return this.#json("/v1/policy", { text });
  }

  /** The policy in force on this node, with its counters. */
  policy(): Promise<{ version: number; text: string; stats: Record<string, unknown> }> {
    return this.#json("/v1/policy");
  }

  /**
   * The segments of the policy in force on this node, each with the members of its view the
   * segment selects (`weft segment list`), and that policy's version (0: none).
   */
  segments(): Promise<{ version: number; segments: SegmentView[] }> {
    return this.#json("/v1/segments");
  }

  /**
   * Adds a Layer 2 segment to the policy (leader; `weft segment create`); the new policy
   * version. A name or VNI taken is refused with 409, what the policy's validator refuses with
   * 400 and its message ({@link AgentAnswerError}).
   */
  createSegment(spec: SegmentSpec): Promise<{ version: number }> {
    return this.#json("/v1/segments", spec);
  }

  /** Removes a segment from the policy (leader; `weft segment delete`); unknown: 404. */
  async deleteSegment(name: string): Promise<{ version: number }> {
    const res = await this.#call(`/v1/segments/${encodeURIComponent(name)}`, {
      method: "DELETE",
    });
    return await res.json();
  }

  /** Which rule decides a flow, as this node sees it. */
  testPolicy(
    q: { from: string; to: string; proto: string; port?: number },
  ): Promise<{ allowed: boolean; decidedBy: string; rule?: { name: string }; summary: string }> {
    return this.#json("/v1/policy/test", q);
  }

  /**
   * Whether the policy's call rules let a member call `service/action`, and which rule decides
   * (`weft policy test --call`), as every callee decides it.
   */
  testCall(q: CallQuery): Promise<CallExplanation> {
    return this.#json("/v1/policy/test", q);
  }

  /**
   * Calls `service/action` through the agent (`weft call`): resolves with the answer, rejects
   * with a {@link ServiceError} (its code as the agent's service layer gave it; a request body
   * over the agent's limit is `too-large`) or an {@link AgentAnswerError}.
   */
  async call(path: string, params?: unknown, opts: RequestOptions = {}): Promise<unknown> {
    const r = await this.#serviceJson<{ result: unknown }>("/v1/services/call", {
      path,
      params: params ?? null,
      ...opts,
    });
    return r.result;
  }

  /** Publishes an event through the agent (`weft publish`); errors as {@link call}'s. */
  publish(topic: string, data: unknown, mode?: PublishMode): Promise<PublishResult> {
    return this.#serviceJson("/v1/services/publish", {
      topic,
      data: data ?? null,
      ...(mode ? { mode } : {}),
    });
  }

  /**
   * The events of a subscription made on the agent (`weft subscribe`). `onReady` runs once the
   * agent subscribed and the other members hold the subscription (or the announcement's resends
   * ran out); `onDropped` whenever the agent says this reader lost events (the total so
   * far); the iteration ends when `signal` aborts (or the agent ends the stream).
   */
  async *subscribe(
    pattern: string,
    opts: {
      group?: string;
      queue?: number;
      signal?: AbortSignal;
      onReady?: () => void;
      onDropped?: (total: number) => void;
    } = {},
  ): AsyncGenerator<ServiceEvent> {
    const q = new URLSearchParams({ pattern });
    if (opts.group !== undefined) q.set("group", opts.group);
    if (opts.queue !== undefined) q.set("queue", String(opts.queue));
    const res = await this.#call(`/v1/services/subscribe?${q}`, { signal: opts.signal });
    for await (const line of ndjsonLines(res)) {
      if (line === "") {
        opts.onReady?.();
        continue;
      }
      const v = JSON.parse(line);
      if (typeof v.dropped === "number" && v.topic === undefined) {
        opts.onDropped?.(v.dropped);
        continue;
      }
      yield v as ServiceEvent;
    }
  }

  /** Every service this node knows, with its instances and leader (`weft service list`). */
  async services(): Promise<ServiceView[]> {
    return (await this.#json<{ services: ServiceView[] }>("/v1/services")).services;
  }

  /** The leader of a service as this node knows it, or null (`weft service leader`). */
  async serviceLeader(name: string): Promise<ServiceLeaderView | null> {
    const r = await this.#json<{ leader: ServiceLeaderView | null }>(
      `/v1/services/${encodeURIComponent(name)}/leader`,
    );
    return r.leader;
  }

  /** The agent's status document. */
  status(): Promise<{ node: NodeStatus; peers: PeerStatus[] }> {
    return this.#json("/status");
  }

  /**
   * Pings an overlay address, or a member by name (`db`, `db.<zone>`: the agent looks it up in
   * its view), from the agent; each reply comes with the path to the peer then.
   */
  ping(
    target: string,
    opts: { count?: number; timeoutMs?: number } = {},
  ): Promise<PingResult & { name?: string }> {
    const to = parseAddress(target) === null ? { name: target } : { address: target };
    return this.#json("/v1/ping", { ...to, ...opts });
  }

  /** Sends a datagram from the agent to an overlay address and port. */
  async send(address: string, port: number, data: Uint8Array, fromPort?: number): Promise<void> {
    await this.#json("/v1/send", { address, port, base64: encodeBase64(data), fromPort });
  }

  /**
   * Receives datagrams sent to `port` on the agent. `onReady` runs once the agent listens; the
   * iteration ends after `count` datagrams or when `signal` aborts.
   */
  async *recv(
    port: number,
    opts: { count?: number; signal?: AbortSignal; onReady?: () => void } = {},
  ): AsyncGenerator<ReceivedDatagram> {
    const q = new URLSearchParams({ port: String(port) });
    if (opts.count !== undefined) q.set("count", String(opts.count));
    const res = await this.#call(`/v1/recv?${q}`, { signal: opts.signal });
    for await (const line of ndjsonLines(res)) {
      if (line === "") {
        opts.onReady?.();
        continue;
      }
      const d = JSON.parse(line);
      yield {
        address: d.address,
        port: d.port,
        data: decodeBase64(d.base64) ?? new Uint8Array(),
      };
    }
  }
}

/** The lines of an NDJSON answer; leaving the loop early closes the stream and its connection. */
async function* ndjsonLines(res: Response): AsyncGenerator<string> {
  const reader = res.body!.pipeThrough(new TextDecoderStream()).getReader();
  let buf = "";
  try {
    for (;;) {
      let chunk: ReadableStreamReadResult<string>;
      try {
        chunk = await reader.read();
      } catch (e) {
        // An abort is the caller's; anything else is the connection breaking mid-stream.
        if (e instanceof DOMException && e.name === "AbortError") throw e;
        throw new Error(
          `the agent's stream broke off (the agent stopped or restarted?): ${
            e instanceof Error ? e.message : String(e)
          }`,
          { cause: e },
        );
      }
      const { value, done } = chunk;
      if (done) return;
      buf += value;
      let nl: number;
      while ((nl = buf.indexOf("\n")) >= 0) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        yield line;
      }
    }
  } finally {
    // The body is locked by the pipe: cancelling the reader cancels through it.
    await reader.cancel().catch(() => {});
    reader.releaseLock();
  }
}

/** The library's error from a service route's error answer. */
function serviceErrorOf(body: Record<string, unknown>, message: string): ServiceError {
  const str = (k: string) => (typeof body[k] === "string" ? body[k] as string : undefined);
  const status = typeof body.status === "number" ? body.status : undefined;
  return new ServiceError(body.code as ServiceError["code"], message, {
    ...(str("service") !== undefined ? { service: str("service") } : {}),
    ...(str("action") !== undefined ? { action: str("action") } : {}),
    ...(str("instance") !== undefined ? { instance: str("instance") } : {}),
    ...(status !== undefined ? { status } : {}),
  });
}
