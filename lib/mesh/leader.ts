/**
 * The leader's bookkeeping: members, address allocation and tokens, persisted after every
 * change and before any answer depends on it. One JavaScript thread allocates synchronously, so
 * two joins can never get the same address; the writer then puts that state on disk.
 * @module
 */

import { Cidr } from "../net/cidr.ts";
import { formatAddress } from "../net/ip.ts";
import type { Member, MembershipView, ServiceSpec } from "./types.ts";
import {
  hashSecret,
  newTokenSecret,
  secretMatches,
  type StoredToken,
  tokenProblem,
} from "./token.ts";
import { type LeaderFile, SerialWriter, type StateDir } from "./state.ts";
import type { VersionedPolicy } from "./policy_source.ts";

/** What a joiner asks for (inside the encrypted join request). */
export interface JoinRequest {
  /** Token id. */
  tokenId: string;
  /** Token secret (base64). */
  secret: string;
  /** Joiner's WireGuard public key. */
  publicKey: string;
  /** Joiner's host name. */
  hostname: string;
  /** Joiner's own labels (token labels are added). */
  labels: Record<string, string>;
  /** Services the joiner advertises. */
  services: ServiceSpec[];
  /** Endpoints the joiner advertises. */
  endpoints: string[];
}

/** A join's outcome. */
export type JoinResult =
  | {
    ok: true;
    member: Member;
    leader: Member;
    network: string;
    network6?: string;
    version: number;
  }
  | { ok: false; error: string };

/** A refused operation with a message for the user. */
export class LeaderError extends Error {}

const LABEL = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;

/** Checks a host name is one DNS label (lowercase letters, digits, dashes). */
export function validHostname(name: string): boolean {
  return LABEL.test(name);
}

/** The leader's state. */
export class LeaderCore {
  readonly #data: LeaderFile;
  readonly #net: Cidr;
  readonly #writer: SerialWriter;
  readonly #listeners = new Set<(v: MembershipView) => void>();
  readonly #policyListeners = new Set<(p: VersionedPolicy) => void>();
  // Which members each recent version touched, so nodes can catch up with a delta.
  readonly #log: { version: number; keys: string[] }[] = [];

  private constructor(data: LeaderFile, private readonly state: StateDir | null) {
    this.#data = data;
    this.#net = Cidr.parse(data.network);
    this.#writer = new SerialWriter(() =>
      this.state ? this.state.writeLeader(this.#data) : Promise.resolve()
    );
  }

  /**
   * Loads the leader's state, or creates it with the leader as the first member at the first
   * host address of `network`. A different `network` than the stored one is an error.
   */
  static async open(
    state: StateDir | null,
    init: {
      network: string;
      network6?: string;
      hostname: string;
      publicKey: string;
      endpoints: string[];
      labels?: Record<string, string>;
      services?: ServiceSpec[];
    },
  ): Promise<LeaderCore> {
    const stored = state ? await state.readLeader() : null;
    if (stored) {
      if (Cidr.parse(stored.network).toString() !== Cidr.parse(init.network).toString()) {
        throw new LeaderError(
          `the state in ${state!.dir} is for network ${stored.network}, not ${init.network}`,
        );
      }
      const core = new LeaderCore(stored, state);
      core.#refreshLeader(init);
      if (init.network6 && !stored.network6) {
        // An IPv6 network added later: every member gets its address now.
        core.#setNetwork6(init.network6);
        await core.#writer.save();
      } else if (
        init.network6 && stored.network6 &&
        Cidr.parse(init.network6).toString() !== Cidr.parse(stored.network6).toString()
      ) {
        throw new LeaderError(
          `the state in ${state!.dir} is for IPv6 network ${stored.network6}, not ${init.network6}`,
        );
      }
      return core;
    }
    const net = Cidr.parse(init.network);
    if (net.family !== 4) throw new LeaderError("the mesh network must be an IPv4 CIDR");
    if (net.bits > 30) throw new LeaderError(`network ${init.network} is too small`);
    if (!validHostname(init.hostname)) {
      throw new LeaderError(`hostname "${init.hostname}" is not a valid DNS label`);
    }
    const leader: Member = {
      name: init.hostname,
      publicKey: init.publicKey,
      address: formatAddress(net.firstHost()),
      endpoints: init.endpoints,
      labels: init.labels ?? {},
      role: "leader",
      services: init.services ?? [],
      joinedAt: Date.now(),
    };
    const core = new LeaderCore(
      { format: 1, network: net.toString(), version: 1, members: [leader], tokens: [] },
      state,
    );
    if (init.network6) core.#setNetwork6(init.network6);
    await core.#writer.save();
    return core;
  }

  #refreshLeader(init: {
    hostname: string;
    publicKey: string;
    endpoints: string[];
    labels?: Record<string, string>;
    services?: ServiceSpec[];
  }): void {
    const leader = this.leader;
    if (leader.publicKey !== init.publicKey) {
      throw new LeaderError("the leader's key does not match its stored state");
    }
    const changed = JSON.stringify([leader.endpoints, leader.labels, leader.services]) !==
      JSON.stringify([
        init.endpoints,
        init.labels ?? leader.labels,
        init.services ?? leader.services,
      ]);
    if (changed) {
      const i = this.#data.members.indexOf(leader);
      this.#data.members[i] = {
        ...leader,
        endpoints: init.endpoints,
        labels: init.labels ?? leader.labels,
        services: init.services ?? leader.services,
      };
      this.#bump(leader.publicKey);
    }
  }

  #setNetwork6(text: string): void {
    const net6 = Cidr.parse(text);
    if (net6.family !== 6) throw new LeaderError(`${text} is not an IPv6 network`);
    this.#data.network6 = net6.toString();
    this.#data.members = this.#data.members.map((m) => ({
      ...m,
      address6: this.#v6For(m.address),
    }));
    this.#bump(...this.#data.members.map((m) => m.publicKey));
  }

  /** A member's IPv6 address: the same host index as its IPv4 address, in the IPv6 network. */
  #v6For(address: string): string | undefined {
    if (!this.#data.network6) return undefined;
    const v4 = Cidr.parse(address).address;
    const net = this.#net.network;
    let index = 0n;
    for (let i = 0; i < 4; i++) index = (index << 8n) | BigInt(v4[i] ^ net[i]);
    return formatAddress(Cidr.parse(this.#data.network6).addressAt(index));
  }

  /** The IPv6 network, if any. */
  get network6(): string | undefined {
    return this.#data.network6;
  }

  /** The leader's own member record. */
  get leader(): Member {
    return this.#data.members.find((m) => m.role === "leader")!;
  }

  /** The network. */
  get network(): string {
    return this.#data.network;
  }

  /**
   * The current membership view. Member records are never changed in place (a change replaces
   * the record), so views share them; treat them as read-only.
   */
  view(): MembershipView {
    return {
      network: this.#data.network,
      ...(this.#data.network6 ? { network6: this.#data.network6 } : {}),
      version: this.#data.version,
      members: [...this.#data.members],
    };
  }

  /** The member with this overlay address (or name). */
  member(addressOrName: string): Member | undefined {
    return this.#data.members.find((m) => m.address === addressOrName || m.name === addressOrName);
  }

  /** Subscribes to membership changes. */
  onChange(fn: (v: MembershipView) => void): () => void {
    this.#listeners.add(fn);
    return () => this.#listeners.delete(fn);
  }

  /** Resolves once everything changed so far is on disk. */
  flush(): Promise<void> {
    return this.#writer.save();
  }

  #bump(...keys: string[]): void {
    this.#data.version++;
    this.#log.push({ version: this.#data.version, keys });
    if (this.#log.length > 4096) this.#log.splice(0, this.#log.length - 4096);
    const v = this.view();
    for (const l of this.#listeners) l(v);
  }

  /**
   * What changed since `version`: members to add or update and keys to remove; null when the
   * log no longer reaches back that far (send the whole view instead).
   */
  changesSince(version: number): { upsert: Member[]; remove: string[] } | null {
    if (version >= this.#data.version) return { upsert: [], remove: [] };
    const first = this.#log[0];
    if (!first || version < first.version - 1) return null;
    const keys = new Set<string>();
    for (const e of this.#log) if (e.version > version) { for (const k of e.keys) keys.add(k); }
    const upsert: Member[] = [];
    const remove: string[] = [];
    for (const k of keys) {
      const m = this.#data.members.find((x) => x.publicKey === k);
      if (m) upsert.push({ ...m });
      else remove.push(k);
    }
    return { upsert, remove };
  }

  /** The lowest free host address, or null when the network is exhausted. */
  #allocate(): string | null {
    const used = new Set(this.#data.members.map((m) => m.address));
    const size = this.#net.size;
    for (let i = 1n; i < size - 1n; i++) {
      const a = formatAddress(this.#net.addressAt(i));
      if (!used.has(a)) return a;
    }
    return null;
  }

  /** Handles a join; the result is on disk before this resolves. Nothing changes on refusal. */
  async join(
    req: JoinRequest,
    observed: string | null,
    now: number = Date.now(),
  ): Promise<JoinResult> {
    const token = this.#data.tokens.find((t) => t.id === req.tokenId);
    const problem = tokenProblem(token, now) ??
      (secretMatches(token!, req.secret) ? null : "unknown token");
    const existing = this.#data.members.find((m) => m.publicKey === req.publicKey);
    if (existing && existing.role !== "leader" && !problem) {
      // A retransmitted request: same answer, no second allocation or use.
      return this.#accepted(existing);
    }
    if (problem) return { ok: false, error: problem };
    if (existing) return { ok: false, error: "that key is the leader's" };
    if (!validHostname(req.hostname)) {
      return { ok: false, error: `hostname "${req.hostname}" is not a valid DNS label` };
    }
    if (this.#data.members.some((m) => m.name === req.hostname)) {
      return { ok: false, error: `hostname "${req.hostname}" is already taken` };
    }
    const address = this.#allocate();
    if (!address) return { ok: false, error: `network ${this.#data.network} is exhausted` };
    const member: Member = {
      name: req.hostname,
      publicKey: req.publicKey,
      address,
      ...(this.#data.network6 ? { address6: this.#v6For(address) } : {}),
      endpoints: [...new Set([...(observed ? [observed] : []), ...req.endpoints])],
      labels: { ...req.labels, ...token!.labels },
      role: "node",
      services: req.services,
      joinedAt: now,
    };
    this.#data.members.push(member);
    if (token!.usesLeft !== null) token!.usesLeft--;
    this.#bump(member.publicKey);
    await this.#writer.save();
    return this.#accepted(member);
  }

  #accepted(member: Member): JoinResult {
    return {
      ok: true,
      member: { ...member },
      leader: { ...this.leader },
      network: this.#data.network,
      ...(this.#data.network6 ? { network6: this.#data.network6 } : {}),
      version: this.#data.version,
    };
  }

  /** Records where a member is reachable now (its observed endpoint first). */
  async updateMember(
    publicKey: string,
    patch: { endpoints?: string[]; services?: ServiceSpec[]; labels?: Record<string, string> },
  ): Promise<boolean> {
    const i = this.#data.members.findIndex((x) => x.publicKey === publicKey);
    if (i < 0) return false;
    const old = this.#data.members[i];
    const m: Member = {
      ...old,
      ...(patch.endpoints ? { endpoints: [...new Set(patch.endpoints)].slice(0, 8) } : {}),
      ...(patch.services ? { services: patch.services } : {}),
      ...(patch.labels ? { labels: patch.labels } : {}),
    };
    if (
      JSON.stringify([m.endpoints, m.services, m.labels]) ===
        JSON.stringify([old.endpoints, old.services, old.labels])
    ) return false;
    this.#data.members[i] = m;
    this.#bump(m.publicKey);
    await this.#writer.save();
    return true;
  }

  /** Removes a member by name or address. */
  async removeNode(nameOrAddress: string): Promise<Member> {
    const i = this.#data.members.findIndex((m) =>
      m.name === nameOrAddress || m.address === nameOrAddress
    );
    if (i < 0) throw new LeaderError(`no node "${nameOrAddress}"`);
    const m = this.#data.members[i];
    if (m.role === "leader") throw new LeaderError("the leader cannot remove itself");
    this.#data.members.splice(i, 1);
    this.#bump(m.publicKey);
    await this.#writer.save();
    return m;
  }

  /** The policy in force, if any. */
  policy(): VersionedPolicy | null {
    return this.#data.policy ?? null;
  }

  /**
   * Puts a validated policy (canonical text) in force and on disk; returns its version. The same
   * text again changes nothing.
   */
  async setPolicy(canonical: string): Promise<number> {
    const cur = this.#data.policy;
    if (cur && cur.text === canonical) return cur.version;
    this.#data.policy = { version: (cur?.version ?? 0) + 1, text: canonical };
    await this.#writer.save();
    for (const l of this.#policyListeners) l(this.#data.policy);
    return this.#data.policy.version;
  }

  /** Subscribes to policy changes. */
  onPolicy(fn: (p: VersionedPolicy) => void): () => void {
    this.#policyListeners.add(fn);
    return () => this.#policyListeners.delete(fn);
  }

  /** Creates a token; returns its id and secret (the secret is stored only hashed). */
  async createToken(
    opts: { ttlMs: number; uses: number | null; labels: Record<string, string> },
  ): Promise<
    { id: string; secret: string; expiresAt: number }
  > {
    if (!(opts.ttlMs > 0)) throw new LeaderError("ttl must be positive");
    if (opts.uses !== null && !(Number.isInteger(opts.uses) && opts.uses > 0)) {
      throw new LeaderError("uses must be a positive integer");
    }
    const { id, secret } = newTokenSecret();
    const now = Date.now();
    const t: StoredToken = {
      id,
      secretHash: hashSecret(secret),
      createdAt: now,
      expiresAt: now + opts.ttlMs,
      usesLeft: opts.uses,
      labels: opts.labels,
      revoked: false,
    };
    this.#data.tokens.push(t);
    await this.#writer.save();
    return { id, secret, expiresAt: t.expiresAt };
  }

  /** The tokens, without their hashes. */
  listTokens(): Omit<StoredToken, "secretHash">[] {
    return this.#data.tokens.map(({ secretHash: _, ...t }) => t);
  }

  /** Revokes a token. */
  async revokeToken(id: string): Promise<void> {
    const t = this.#data.tokens.find((x) => x.id === id);
    if (!t) throw new LeaderError(`no token "${id}"`);
    t.revoked = true;
    await this.#writer.save();
  }
}
