/**
 * The `/status` document the status routes answer with, kept while it is large. A large document
 * (a leader of thousands of members: megabytes) is built at most once its reuse time, a second or
 * half a millisecond a peer, whichever is longer (5 s at 10,000: {@link largeStatusReuseMs}): a
 * dashboard or script polling it would otherwise keep the leader busy writing it. And not while a
 * request waits, if it can: at 10,000 members the build is 50 to 150 ms of the leader's loop on a
 * quiet machine (the peers' status, then the mesh view, then the text), some 7 MB, and three times
 * that under load: a request that finds the document older than its reuse time (younger than
 * three times that: {@link largeStatusStaleMs}) is served it, and the next one is built in later
 * turns, a slice at a time (status_body.ts), and gzipped the same way for the clients that accept
 * it (fetch, `weft status`, browsers); the two are served from then on. A request that finds the
 * document past three times its reuse time while the next is being built waits for it rather than
 * building one more at once (on a busy leader the turns are far apart: 7 MB built at once there
 * held the loop, and went out uncompressed, waiting for the socket to drain several times).
 * `/peers` and the dashboard's event streams read the same document (one build a period, however
 * many clients), its text made once for all of them; `/peers` of a large document (some 6 MB at
 * 10,000) goes gzipped too, compressed in slices once a document when first asked.
 * @module
 */

import type { Agent } from "../../agent/agent.ts";
import type { MeshStatus } from "../../status/mesh_status.ts";
import {
  BODY_SLICE_MS,
  gzipAtOnce,
  gzipInSlices,
  peersJsonInSlices,
  statusBodyOf,
  turn,
} from "./status_body.ts";

/** Peers past which `/status` is served again (for up to LARGE_STATUS_REUSE_MS) once built. */
export const LARGE_STATUS_PEERS = 1000;
/** How long a large `/status` document is served again, ms (at least: see {@link largeStatusReuseMs}). */
export const LARGE_STATUS_REUSE_MS = 1000;
/**
 * How long a large `/status` document is served at most, ms: past LARGE_STATUS_REUSE_MS it is
 * still served while the next is built in a later turn, so a client polling is not kept waiting
 * for the build (at least: see {@link largeStatusStaleMs}).
 */
export const LARGE_STATUS_STALE_MS = 3000;
/** The longest a large `/status` document is served again, ms (a document of 10,000 peers). */
export const LARGE_STATUS_REUSE_MAX_MS = 5000;

/**
 * How long a large `/status` document of `peers` peers is served again, ms: a second or half a
 * millisecond a peer, whichever is longer (5 s at 10,000), at most
 * {@link LARGE_STATUS_REUSE_MAX_MS}. Each build of 10,000 peers is some 7 MB of text and 100 MB of
 * garbage; built every second for a client polling, it was about a sixth of a busy leader's time
 * (its building 8 % in a profile of the churn of 10,000, its garbage some 40 % of what the leader
 * allocated there).
 */
export function largeStatusReuseMs(peers: number): number {
  return Math.min(LARGE_STATUS_REUSE_MAX_MS, Math.max(LARGE_STATUS_REUSE_MS, peers / 2));
}

/** How long a large `/status` document of `peers` peers is served at most, ms: thrice its reuse. */
export function largeStatusStaleMs(peers: number): number {
  return largeStatusReuseMs(peers) * (LARGE_STATUS_STALE_MS / LARGE_STATUS_REUSE_MS);
}

/** What the cache reads of the agent; `statusInSlices`, where there, builds without holding the loop. */
export type StatusCacheSource =
  & Pick<Agent, "status">
  & Partial<Pick<Agent, "statusInSlices">>;

/** The status document, with the mesh view where there is one (the mesh leader). */
export type StatusDoc = ReturnType<Agent["status"]> & { mesh?: MeshStatus };

type Bytes = Uint8Array<ArrayBuffer>;

/** One document built, and its texts as far as they were made. */
export interface BuiltStatus {
  /** When its build started (the cache's clock). */
  readonly at: number;
  /** The document. */
  readonly doc: StatusDoc;
  /** Its JSON text, once made. */
  body: Bytes | null;
  /** Its gzipped text, once made (only a kept document's). */
  gzip: Bytes | null;
  /** The peers' part of its text, once made. */
  peers: Bytes | null;
  /** The peers' part gzipped, once asked for (only a kept document's). */
  peersGzip: Promise<Bytes> | null;
}

const withMesh = (doc: ReturnType<Agent["status"]>, mesh: MeshStatus | null): StatusDoc =>
  mesh ? { ...doc, mesh } : doc;

/** The `/status` document to answer with: a large one kept and rebuilt ahead; see the module doc. */
export class StatusCache {
  readonly #agent: StatusCacheSource;
  readonly #mesh: (() => MeshStatus | null) | undefined;
  readonly #now: () => number;
  readonly #enc = new TextEncoder();
  #reuse: BuiltStatus | null = null;
  #rebuilding: Promise<void> | null = null;

  /** `mesh`: the mesh view (a mesh leader's); `now`: the clock in ms (`performance.now`). */
  constructor(
    agent: StatusCacheSource,
    mesh?: () => MeshStatus | null,
    now: () => number = () => performance.now(),
  ) {
    this.#agent = agent;
    this.#mesh = mesh;
    this.#now = now;
  }

  /** Whether `b` is the large document kept (served with `vary`, gzipped where taken). */
  isKept(b: BuiltStatus): boolean {
    return b === this.#reuse;
  }

  /** The large document kept, if any, as it is (nothing built). */
  kept(): BuiltStatus | null {
    return this.#reuse;
  }

  /**
   * The document's text, made when first asked for: the whole and its peers' part at once for
   * the document kept (one writing a period for `/status`, `/peers` and the dashboards).
   */
  body(b: BuiltStatus): Bytes {
    if (b.body !== null) return b.body;
    const text = statusBodyOf(b.doc.node, JSON.stringify(b.doc.peers), b.doc.mesh ?? null);
    if (b === this.#reuse) b.peers = text.peers;
    return b.body = text.body;
  }

  /** The peers' part of the document's text, made when first asked for (see {@link body}). */
  peers(b: BuiltStatus): Bytes {
    if (b.peers !== null) return b.peers;
    if (b === this.#reuse) this.body(b);
    return b.peers ??= this.#enc.encode(JSON.stringify(b.doc.peers));
  }

  /** The peers' part gzipped, compressed in slices once a document (null if that failed). */
  peersGzip(b: BuiltStatus): Promise<Bytes | null> {
    return (b.peersGzip ??= gzipInSlices(this.peers(b))).catch(() => null);
  }

  /**
   * The document to answer with now: the large one kept, or one built now (`gzip`: for a request
   * that takes gzip, so a large one built now is gzipped at once).
   */
  async current(gzip = false): Promise<BuiltStatus> {
    const age = () => this.#reuse === null ? Infinity : this.#now() - this.#reuse.at;
    const peers = () => this.#reuse?.doc.peers.length ?? 0;
    if (this.#rebuilding !== null && age() >= largeStatusStaleMs(peers())) {
      // The newest there is once it is done, however long its slices took.
      await this.#rebuilding;
      if (this.#reuse !== null) return this.#reuse;
    }
    if (this.#reuse === null || age() >= largeStatusStaleMs(peers())) return this.#build(gzip);
    if (age() >= largeStatusReuseMs(peers()) && this.#rebuilding === null) {
      this.#rebuilding = this.#rebuild().catch(() => {
        // The agent is going (or failed to say its status): the next request builds it.
        this.#reuse = null;
      }).finally(() => this.#rebuilding = null);
    }
    return this.#reuse;
  }

  // `gzip`: the request waiting for it takes gzip. A large document built while a request waits
  // is then gzipped at once too: on a busy leader of 10,000 members the sliced rebuild outlasted
  // LARGE_STATUS_STALE_MS, so a request often found the document stale and had it built at once,
  // and its 7 MB went out plain, several writes each waiting for the loop to take the socket's
  // readiness (0.6 to 8.9 s in a traced run at load 12); gzipped (some 1.3 MB, tens of ms more of
  // the loop) it goes in one.
  #build(gzip: boolean): BuiltStatus {
    const at = this.#now();
    const doc = withMesh(this.#agent.status(), this.#mesh?.() ?? null);
    const built: BuiltStatus = { at, doc, body: null, gzip: null, peers: null, peersGzip: null };
    this.#reuse = doc.peers.length > LARGE_STATUS_PEERS ? built : null;
    if (this.#reuse !== null && gzip) built.gzip = gzipAtOnce(this.body(built));
    else if (this.#reuse !== null) {
      gzipInSlices(this.body(built)).then((gzip) => built.gzip = gzip).catch(() => {/* plain */});
    }
    return built;
  }

  async #rebuild(): Promise<void> {
    await turn();
    const at = this.#now();
    const agent = this.#agent;
    const doc = agent.statusInSlices
      ? await agent.statusInSlices(turn, BODY_SLICE_MS)
      : agent.status();
    await turn();
    const mesh = this.#mesh?.() ?? null;
    await turn();
    const { body, peers } = statusBodyOf(doc.node, await peersJsonInSlices(doc.peers), mesh);
    if (doc.peers.length <= LARGE_STATUS_PEERS) return void (this.#reuse = null);
    const gzip = await gzipInSlices(body);
    this.#reuse = { at, doc: withMesh(doc, mesh), body, gzip, peers, peersGzip: null };
  }
}
