/**
 * What leaders and nodes keep on disk, in their state directory:
 *
 * - `private.key`: the node's WireGuard private key (mode 0600), made on first start;
 * - `leader.json` (leader): network, members, address allocations, tokens (secrets only hashed),
 *   the mesh's LAN key, the service-leader leases' fencing tokens;
 * - `node.json` (joined node): its address, the leader in use, the last membership view and the LAN
 *   key, so a restarted node rejoins without a token and keeps talking without the leader;
 * - `control.token`: the bearer token of the control routes over TCP (mode 0600), replaced by
 *   {@link StateDir.rotateControlToken};
 * - `monitor.token`: a read-only token for `GET /status` and `GET /metrics` (mode 0600);
 * - `weft.sock`: the running agent's control socket (mode 0600), the local commands' channel: the
 *   operating system lets only the directory's owner connect, so no token crosses it;
 * - `status.address`: where the running agent's status and control server listens (`host:port`),
 *   written by `weft` once it listens and removed when it stops, so that a command given only the
 *   state directory finds the agent (see {@link StateDir.statusAddress});
 * - `lock`: locked by the agent using the directory, for its life, and holding its PID, so that a
 *   second agent on the same directory is refused (see {@link StateDir.lock}); removed when the
 *   agent lets go of it.
 *
 * Every write is atomic (temp file, fsync, rename). A file that exists but does not parse is an
 * error naming the file, never a silent reset. A `StateDir` records what it created (files, and
 * the directory itself with any parents), so that a start that fails can remove exactly that and
 * leave the directory as it found it ({@link StateDir.removeCreated}).
 * @module
 */

import { dirname, resolve } from "node:path";
import { readJsonFile, writeFileAtomic } from "../../config/atomic.ts";
import { DirLock } from "../../config/dir_lock.ts";
import { controlSocketPath, readStatusAddress, STATUS_ADDRESS_FILE } from "./agent_address.ts";
import { encodeKey, generatePrivateKey, parseKey } from "../../crypto/keys.ts";
import { encodeBase64 } from "../../crypto/base64.ts";
import type { Member, MemberGrants, MembershipView } from "../../members/member.ts";
import type { StoredToken } from "../join/token.ts";
import type { VersionedPolicy } from "../../policy/source.ts";
import { decodeLanKey } from "./lan_key.ts";
import { parseApprovals, validRouteList } from "../../routes/prefixes.ts";
import { leaderJson } from "./leader_json.ts";
import { applyEntry, parseJournal } from "./leader_journal.ts";
import { validTcpPort } from "../../members/validate.ts";
import { runIdOf } from "../../members/run_id.ts";
import { type LeaseRecord, leaseRecordProblem } from "../../services/lease/arbiter.ts";
import { exists } from "../../io/files.ts";
import { RecordMap } from "./record_map.ts";

/** The leader's file. */
export interface LeaderFile {
  /** File format version. */
  format: 1;
  /** The overlay network. */
  network: string;
  /** The overlay IPv6 network, if any. */
  network6?: string;
  /** Membership version; increases on every change. */
  version: number;
  /** Every member, the leader first. */
  members: Member[];
  /** Join tokens. */
  tokens: StoredToken[];
  /** The network policy in force, if any. */
  policy?: VersionedPolicy;
  /**
   * How each node joined, by public key (members from before this record existed have none): a
   * plain object on disk and in a store, a {@link RecordMap} in memory (a batch's copy of the
   * state costs what it changes).
   */
  joins: RecordMap<JoinRecord>;
  /** Keys that were removed or released, by public key: replays of their requests are refused. */
  left?: Record<string, LeftRecord>;
  /**
   * The mesh's LAN key (32 bytes, base64) that authenticates LAN announcements; made at the
   * first start that finds none. A secret: never in a view, a status or a log.
   */
  lanKey?: string;
  /**
   * The service-leader leases: the highest fencing token issued and the holders, written before
   * a lease is granted (see lib/services/lease/arbiter.ts).
   */
  leases?: LeaseRecord;
}

/** A key that left the mesh (removed, or released unheard). */
export interface LeftRecord {
  /** The latest request time accepted from it (the joiner's Unix ms): only later ones count. */
  time: number;
  /** Unix ms when it left. */
  at: number;
  /** Set when it was removed: the token that admitted it, which it cannot join with again. */
  removedToken?: string;
  /**
   * The name a removed member had: no other joiner gets it until the grace period after `at`
   * ends (lib/mesh/leader/names.ts), or the operator frees it (`weft node free-name`).
   */
  name?: string;
}

/** How a node joined: the token it used, when, and whether it has been heard from since. */
export interface JoinRecord {
  /** The id of the token that admitted it (a retransmitted join with it gets the same answer). */
  token: string;
  /** Unix ms of the allocation. */
  at: number;
  /** The latest request time accepted from this key (the joiner's Unix ms). */
  time?: number;
  /**
   * True once the node said hello or completed a handshake: its answer arrived. Until then the
   * allocation is released after a while (the answer may have been lost).
   */
  heard: boolean;
}

/** A joined node's file. */
export interface NodeFile {
  /** File format version. */
  format: 1;
  /** This node's overlay address. */
  address: string;
  /**
   * This node's name in the mesh, kept when the view no longer lists it (removed): a join again
   * without a name given asks for it. Absent in files from before.
   */
  name?: string;
  /**
   * The leader this node syncs with (with several leaders, the one in use when it was written):
   * its public key, endpoints and overlay address.
   */
  leader: { publicKey: string; endpoints: string[]; address: string };
  /** The last membership view received. */
  view: MembershipView;
  /** The last network policy received, if any. */
  policy?: VersionedPolicy;
  /** The mesh's LAN key (base64) as the leader sent it, so announcements work without it. */
  lanKey?: string;
}

/** The leader's journal: its commits since `leader.json` was written (./leader_journal.ts). */
export const LEADER_JOURNAL = "leader.journal";

const encoder = new TextEncoder();

export { CONTROL_SOCKET, STATUS_ADDRESS_FILE } from "./agent_address.ts";

/** The state directory's names are asked about themselves (lstat): a dangling link is there. */
const LSTAT = { link: true } as const;

/** 24 random bytes in base64: a bearer token. */
function newSecret(): string {
  return encodeBase64(crypto.getRandomValues(new Uint8Array(24)));
}

function check(cond: unknown, file: string, what: string): asserts cond {
  if (!cond) throw new Error(`${file}: corrupt state (${what})`);
}

/** A node's state directory. */
export class StateDir {
  // What this instance created, until {@link keepCreated}: directories deepest first, files.
  #created: { dirs: string[]; files: string[] } | null = { dirs: [], files: [] };
  // The leader's journal, open for appends once written to.
  #journal: Deno.FsFile | null = null;
  // The journal's size in bytes: read once when opened, then counted by what is appended.
  #journalBytes = 0;

  /** The state directory at `dir` (nothing is read or made yet). */
  constructor(readonly dir: string) {}

  /** Path of a file in the directory. */
  path(name: string): string {
    return `${this.dir}/${name}`;
  }

  /**
   * Creates the directory (mode 0700) if needed and locks it without waiting, for one agent at a
   * time: another agent holding it is a `DirLockedError` naming the directory and, when it could
   * be read, that agent's PID. Taken before anything in the directory is read or written (even
   * {@link ensure}'s clearing of temp files, which could be another agent's writes in flight);
   * held until released, or until the process ends.
   */
  async lock(): Promise<DirLock> {
    for (let attempt = 1;; attempt++) {
      await this.#makeDir();
      try {
        return await DirLock.acquire(this.dir, {
          name: "lock",
          label: "state directory",
          hint: "stop that agent first, or give this one another --state-dir",
        });
      } catch (e) {
        // Removed between the two by a start that failed and had made it: made again.
        if (!(e instanceof Deno.errors.NotFound) || attempt >= 3) throw e;
      }
    }
  }

  /** Makes the directory (0700) and its missing parents, recording the ones it made. */
  async #makeDir(): Promise<void> {
    const missing: string[] = [];
    for (let d = resolve(this.dir); !(await exists(d, LSTAT)); d = dirname(d)) {
      missing.push(d);
      if (dirname(d) === d) break;
    }
    await Deno.mkdir(this.dir, { recursive: true, mode: 0o700 });
    for (const d of missing) {
      if (this.#created && !this.#created.dirs.includes(d)) this.#created.dirs.push(d);
    }
  }

  /**
   * Keeps what this instance created so far and records no more: the start succeeded, and its
   * files are state like any other.
   */
  keepCreated(): void {
    this.#created = null;
  }

  /**
   * Removes what this instance created (a start that failed), never anything that was there
   * before: the files while `lock` (if any) is still held, then the lock (released, its file
   * removed), then the directories it made, each only if empty. Returns what could not be
   * removed (say, for a warning); again is a no-op.
   */
  async removeCreated(lock?: DirLock): Promise<string[]> {
    const created = this.#created ?? { dirs: [], files: [] };
    this.#created = { dirs: [], files: [] };
    const left: string[] = [];
    for (const f of created.files) {
      try {
        await Deno.remove(f);
      } catch (e) {
        if (!(e instanceof Deno.errors.NotFound)) left.push(`${f}: ${String(e)}`);
      }
    }
    lock?.release();
    for (const d of created.dirs) {
      try {
        await Deno.remove(d);
      } catch (e) {
        // Not empty: something else was put there meanwhile (or the lock file was kept).
        if (!(e instanceof Deno.errors.NotFound)) left.push(`${d}: ${String(e)}`);
      }
    }
    return left;
  }

  /** Writes a file atomically (0600), recording it when it is new. */
  async #write(name: string, text: string): Promise<void> {
    const file = this.path(name);
    await this.#noteCreated(file);
    await writeFileAtomic(file, text, { mode: 0o600 });
  }

  /** Records `file` as made by this instance when it does not exist yet (and still recording). */
  async #noteCreated(file: string): Promise<void> {
    // Held across the await: `keepCreated` may end the recording meanwhile.
    const created = this.#created;
    if (created && !created.files.includes(file) && !(await exists(file, LSTAT))) {
      created.files.push(file);
    }
  }

  /**
   * Creates the directory (mode 0700) if needed, tightens an existing one that others may read
   * or enter to 0700 (it holds the private key and the control token), and clears temp files a
   * crash left behind. Returns the mode it had when it was tightened, else null.
   */
  async ensure(): Promise<{ tightenedFrom: number } | null> {
    await Deno.mkdir(this.dir, { recursive: true, mode: 0o700 });
    let tightened: { tightenedFrom: number } | null = null;
    const mode = (await Deno.stat(this.dir)).mode;
    if (mode !== null && (mode & 0o077) !== 0) {
      await Deno.chmod(this.dir, 0o700);
      tightened = { tightenedFrom: mode & 0o777 };
    }
    for await (const e of Deno.readDir(this.dir)) {
      // writeFileAtomic's temp files: `.<name>.<pid>.<random>.tmp`; the target is intact.
      if (e.isFile && /^\..+\.\d+\.\d+\.tmp$/.test(e.name)) {
        // A temp file that cannot be removed is harmless (never read) and tried again next start.
        await Deno.remove(this.path(e.name)).catch(() => {});
      }
    }
    return tightened;
  }

  /**
   * The private key: the saved one, or a new one, not saved yet (`saved` false: see
   * {@link writePrivateKey}; a start that fails before it needs the key on disk leaves none).
   */
  async privateKey(): Promise<{ key: string; saved: boolean }> {
    const file = this.path("private.key");
    if (await exists(file, LSTAT)) {
      const text = (await Deno.readTextFile(file)).trim();
      try {
        parseKey(text, "private key");
      } catch (e) {
        throw new Error(`${file}: ${(e as Error).message}`);
      }
      return { key: text, saved: true };
    }
    return { key: encodeKey(generatePrivateKey()), saved: false };
  }

  /** Saves the private key (0600). */
  writePrivateKey(key: string): Promise<void> {
    return this.#write("private.key", key + "\n");
  }

  /** The control bearer token, made and saved (0600) on first use. */
  controlToken(): Promise<string> {
    return this.#secret("control.token");
  }

  /** The read-only monitoring token (`/status`, `/metrics`), made and saved (0600) on first use. */
  monitorToken(): Promise<string> {
    return this.#secret("monitor.token");
  }

  /**
   * Replaces the control token with a new random one, written atomically (0600) before it is
   * returned: whoever held the old one holds nothing once the agent takes the new one.
   */
  async rotateControlToken(): Promise<string> {
    const t = newSecret();
    await this.#write("control.token", t + "\n");
    return t;
  }

  /**
   * What an agent's control server takes from its state directory: the control and monitoring
   * tokens (made on first use), the socket's path and how to rotate the control token.
   */
  async controlServerSecrets(): Promise<{
    token: string;
    monitorToken: string;
    socket: string;
    rotateToken: () => Promise<string>;
  }> {
    return {
      token: await this.controlToken(),
      monitorToken: await this.monitorToken(),
      socket: this.socketPath,
      rotateToken: () => this.rotateControlToken(),
    };
  }

  /** The path of the running agent's control socket ({@link CONTROL_SOCKET}). */
  get socketPath(): string {
    return controlSocketPath(this.dir);
  }

  /** A token file's token, made and saved (0600) when there is none. */
  async #secret(name: string): Promise<string> {
    const file = this.path(name);
    if (await exists(file, LSTAT)) {
      const t = (await Deno.readTextFile(file)).trim();
      check(/^[A-Za-z0-9+/=]{20,}$/.test(t), file, "bad token");
      return t;
    }
    const t = newSecret();
    await this.#write(name, t + "\n");
    return t;
  }

  /**
   * The status address the running agent wrote (`host:port`), or null when there is none, it
   * cannot be read, it is not one line of `host:port`, or no agent holds the directory's lock
   * (where that can be told, see `lockHeld`): one killed outright leaves an address nothing
   * listens on any more.
   */
  statusAddress(): Promise<string | null> {
    return readStatusAddress(this.dir);
  }

  /** Records where the agent's status server listens, for {@link StateDir.statusAddress}. */
  async writeStatusAddress(address: string): Promise<void> {
    await writeFileAtomic(this.path(STATUS_ADDRESS_FILE), address + "\n", { mode: 0o600 });
  }

  /** Removes the status address (the agent stops); none there is no error. */
  async removeStatusAddress(): Promise<void> {
    await Deno.remove(this.path(STATUS_ADDRESS_FILE)).catch((e) => {
      if (!(e instanceof Deno.errors.NotFound)) throw e;
    });
  }

  /**
   * The leader's document, or null when there is none: `leader.json` with the commits of
   * `leader.journal` since it was written replayed onto it (./leader_journal.ts).
   */
  async readLeader(): Promise<LeaderFile | null> {
    const file = this.path("leader.json");
    const journal = this.path(LEADER_JOURNAL);
    if (!(await exists(file, LSTAT))) {
      check(!(await exists(journal, LSTAT)), journal, "a journal without leader.json");
      return null;
    }
    const d = await readJsonFile(file);
    checkLeaderJson(d, file);
    if (!(await exists(journal, LSTAT))) return leaderFileOf(d);
    for (const e of parseJournal(await Deno.readTextFile(journal), journal)) applyEntry(d, e);
    checkLeaderJson(d, journal);
    return leaderFileOf(d);
  }

  /**
   * Appends one commit's line (./leader_journal.ts's `journalLine`) to the journal and syncs
   * it: the commit is on disk when this resolves. Returns the journal's size in bytes.
   *
   * The line (kilobytes) goes to the page cache at once and only the sync is awaited: each
   * awaited call waits for a turn of a busy leader's event loop (hundreds of milliseconds at
   * 10,000 members under load), and a bye's answer waits for this write.
   */
  async appendLeader(line: string): Promise<number> {
    if (!this.#journal) {
      const file = this.path(LEADER_JOURNAL);
      await this.#noteCreated(file);
      const f = await Deno.open(file, { append: true, create: true, mode: 0o600 });
      this.#journalBytes = (await f.stat()).size;
      this.#journal = f;
    }
    const f = this.#journal;
    const bytes = encoder.encode(line);
    try {
      for (let done = 0; done < bytes.length;) done += f.writeSync(bytes.subarray(done));
      await f.syncData();
    } catch (e) {
      // What the file holds is not known now: the size is read again at the next open.
      this.closeJournal();
      throw e;
    }
    return this.#journalBytes += bytes.length;
  }

  /** The node file, or null when there is none. */
  async readNode(): Promise<NodeFile | null> {
    const file = this.path("node.json");
    if (!(await exists(file, LSTAT))) return null;
    const o = await readJsonFile(file) as NodeFile;
    check(o && o.format === 1, file, "unknown format");
    check(typeof o.address === "string", file, "address");
    check(o.name === undefined || typeof o.name === "string", file, "name");
    check(o.leader && typeof o.leader.publicKey === "string", file, "leader");
    check(
      o.view && Array.isArray(o.view.members) && o.view.members.every(validMember),
      file,
      "view",
    );
    check(o.lanKey === undefined || decodeLanKey(o.lanKey) !== null, file, "lanKey");
    return o;
  }

  /**
   * Writes the leader's whole document atomically (its records' text made once each:
   * leader_json.ts), then removes the journal it now holds. Returns the document's size in
   * characters.
   */
  async writeLeader(data: LeaderFile): Promise<number> {
    const text = leaderJson(data);
    await this.#write("leader.json", text);
    this.#journal?.close();
    this.#journal = null;
    await Deno.remove(this.path(LEADER_JOURNAL)).catch((e) => {
      if (!(e instanceof Deno.errors.NotFound)) throw e;
    });
    return text.length;
  }

  /** Closes the journal's file, if open (the agent stops). */
  closeJournal(): void {
    this.#journal?.close();
    this.#journal = null;
  }

  /** Writes the node file atomically. */
  writeNode(data: NodeFile): Promise<void> {
    return this.#write("node.json", JSON.stringify(data, null, 1));
  }
}

/** The leader's document as JSON has it (on disk, in a store): its records in plain objects. */
type LeaderJson = Omit<LeaderFile, "joins"> & { joins?: Record<string, JoinRecord> };

/**
 * Checks a parsed leader document (from `leader.json` or a store): the document, or an error
 * naming `file` (or the store) and what is wrong, never a silent reset.
 */
export function checkLeaderFile(parsed: unknown, file: string): LeaderFile {
  checkLeaderJson(parsed, file);
  return leaderFileOf(parsed);
}

/** The document in memory of a checked one as JSON has it (its records in a {@link RecordMap}). */
function leaderFileOf(o: LeaderJson): LeaderFile {
  return { ...o, joins: RecordMap.of(o.joins ?? {}) };
}

/** Checks a parsed leader document as {@link checkLeaderFile} does, without taking it in. */
function checkLeaderJson(parsed: unknown, file: string): asserts parsed is LeaderJson {
  const o = parsed as LeaderJson;
  check(o && o.format === 1, file, "unknown format");
  check(typeof o.network === "string", file, "network");
  check(Number.isInteger(o.version), file, "version");
  check(Array.isArray(o.members) && o.members.every(validMember), file, "members");
  check(Array.isArray(o.tokens), file, "tokens");
  check(
    o.joins === undefined ||
      (typeof o.joins === "object" && o.joins !== null &&
        Object.values(o.joins).every(validJoinRecord)),
    file,
    "joins",
  );
  check(o.lanKey === undefined || decodeLanKey(o.lanKey) !== null, file, "lanKey");
  check(
    o.left === undefined ||
      (typeof o.left === "object" && o.left !== null &&
        Object.values(o.left).every(validLeftRecord)),
    file,
    "left",
  );
  if (o.leases !== undefined) {
    const p = leaseRecordProblem(o.leases);
    check(p === undefined, file, `leases: ${p}`);
  }
}

function validMember(m: Member): boolean {
  return !!m && typeof m.name === "string" && typeof m.publicKey === "string" &&
    typeof m.address === "string" && Array.isArray(m.endpoints) && typeof m.labels === "object" &&
    (m.observed === undefined || typeof m.observed === "string") &&
    (m.lan === undefined || (Array.isArray(m.lan) && m.lan.every((e) => typeof e === "string"))) &&
    (m.relay === undefined || m.relay === true) &&
    (m.offline === undefined || m.offline === true) &&
    validTcpPort(m.tcpPort) !== null &&
    (m.grants === undefined || validGrants(m.grants)) &&
    (m.advertisedRoutes === undefined || validRouteList(m.advertisedRoutes) !== null) &&
    (m.routes === undefined || validRouteList(m.routes) !== null) &&
    (m.exitNode === undefined || m.exitNode === true) &&
    (m.run === undefined || runIdOf(m.run) !== undefined);
}

function validGrants(g: MemberGrants): boolean {
  return !!g && typeof g === "object" && (g.relay === undefined || g.relay === true) &&
    (g.services === undefined ||
      (Array.isArray(g.services) && g.services.every((s) => typeof s === "string"))) &&
    (g.routes === undefined || validApprovals(g.routes));
}

function validApprovals(list: unknown): boolean {
  if (!Array.isArray(list)) return false;
  try {
    return parseApprovals(list).length === list.length;
  } catch {
    return false;
  }
}

function validJoinRecord(r: JoinRecord): boolean {
  return !!r && typeof r.token === "string" && typeof r.at === "number" &&
    typeof r.heard === "boolean" && (r.time === undefined || typeof r.time === "number");
}

function validLeftRecord(r: LeftRecord): boolean {
  return !!r && typeof r.time === "number" && typeof r.at === "number" &&
    (r.removedToken === undefined || typeof r.removedToken === "string") &&
    (r.name === undefined || typeof r.name === "string");
}
