/**
 * Test fixture: a real leader (its LeaderCore in memory and its LeaderService, started) and real
 * node syncs over a fake control channel, shared by the end-to-end tests of what goes between
 * them (shared_view_test.ts, carried_push_test.ts, change_told_test.ts). Every datagram, the
 * leader's and the nodes', to the leader or member to member, is encoded, parsed and delivered
 * on a later microtask, as the real channel hands on what it read. Hooks ({@link ControlHooks})
 * watch, lose or change datagrams on the way.
 * @module
 */

import { generateKeyPair } from "../../crypto/keys.ts";
import type { Device } from "../../device/device.ts";
import { nullLogger } from "../../log/logger.ts";
import type { Member, MembershipView } from "../../members/member.ts";
import { LeaderCore } from "../leader/core.ts";
import { LeaderService, type LeaderServiceDeps } from "../leader/service.ts";
import { joinRequest } from "../leader/testing/cores.ts";
import { NodeSync, type NodeSyncDeps } from "../sync/node_sync.ts";
import { type ControlMessage, encodeMessage, parseMessage } from "../sync/protocol.ts";

/** A node's hello. */
export type Hello = Extract<ControlMessage, { t: "hello" }>;

/** What a test hooks into the fake channel; each may be replaced at any time. */
export interface ControlHooks {
  /** Told of each datagram the leader sends (its recipient, its kind), before it may be lost. */
  leaderSent(to: string, kind: string, msg: ControlMessage | null): void;
  /** Whether the leader's datagram to `to` is lost on the way (default: none is). */
  lost(to: string, kind: string): boolean;
  /** Told of each datagram the leader sends that was not lost, once on its way. */
  leaderDelivered(to: string, kind: string): void;
  /** Told of each message a node sends (after an old node dropped its fields), before tamper. */
  nodeSent(from: string, to: string, msg: ControlMessage): void;
  /** What a node's message becomes on the way; null: lost (default: unchanged). */
  tamper(from: string, msg: ControlMessage): ControlMessage | null;
  /** Told of each message the leader took, once handed to it. */
  leaderTook(from: string, msg: ControlMessage): void;
}

/** How a test's mesh is made. */
export interface ControlMeshOptions {
  /** The mesh's network (default 10.7.0.0/16). */
  network?: string;
  /** Deps of the leader's service beyond the fixture's (`carryMin`, say). */
  service?: Partial<LeaderServiceDeps>;
}

/** How a node is made. */
export interface ControlNodeOptions {
  /** Fields its hellos do not say (an older node's). */
  drops?: (keyof Hello)[];
  /**
   * The view it holds at its start: `own` (default), the leader's and its own record at version
   * 0, as a joiner's; `whole`, the leader's view as it is once the node joined.
   */
  held?: "own" | "whole";
  /** Deps of its sync beyond the fixture's (`lan`, say). */
  deps?: Partial<NodeSyncDeps>;
}

/** A node of a {@link ControlMesh}: joined, its sync started. */
export interface ControlNode {
  /** Its record, as the join gave it. */
  m: Member;
  /** Its sync. */
  sync: NodeSync;
  /** The view it holds now. */
  held(): MembershipView;
  /** The kinds of the datagrams the leader sent it, in order. */
  sent(): string[];
}

/** A leader and the nodes a test adds, over the fake channel. */
export interface ControlMesh {
  /** The leader's core. */
  core: LeaderCore;
  /** The leader's service (started). */
  service: LeaderService;
  /** The leader's overlay address. */
  lead: string;
  /** The hooks in force; a test sets what it needs. */
  hooks: ControlHooks;
  /** A member joined with no sync (one that never says hello). */
  join(hostname: string): Promise<Member>;
  /** A node joined and its sync started. */
  node(name: string, opts?: ControlNodeOptions): Promise<ControlNode>;
  /** Delivers `msg` to `to` as if the leader sent it (no hook told). */
  fromLeader(to: string, msg: ControlMessage): void;
  /** Closes the nodes' syncs, then the service. */
  close(): Promise<void>;
}

/** The hooks that change nothing. */
function quietHooks(): ControlHooks {
  return {
    leaderSent: () => {},
    lost: () => false,
    leaderDelivered: () => {},
    nodeSent: () => {},
    tamper: (_, m) => m,
    leaderTook: () => {},
  };
}

/** Opens a leader `lead` at 192.0.2.1:51820 in memory, with a token for joins, and starts its service. */
export async function controlMesh(opts: ControlMeshOptions = {}): Promise<ControlMesh> {
  const key = generateKeyPair().publicKey;
  const core = await LeaderCore.open(null, {
    network: opts.network ?? "10.7.0.0/16",
    hostname: "lead",
    publicKey: key,
    endpoints: ["192.0.2.1:51820"],
  });
  const lead = core.leader.address;
  const token = await core.createToken({ ttlMs: 600_000, uses: null, labels: {} });
  const join = async (hostname: string): Promise<Member> => {
    const joined = await core.join(joinRequest(token, hostname, { time: Date.now() }), null);
    if (!joined.ok) throw new Error(joined.error);
    return joined.member;
  };
  const hooks = quietHooks();
  // The kinds the leader sent, by recipient; the handlers of the nodes, by address.
  const kinds = new Map<string, string[]>();
  const nodes = new Map<string, (msg: ControlMessage, from: string) => void>();
  let toLeader: ((msg: ControlMessage, from: string) => void) | null = null;
  const deliver = (to: string, msg: ControlMessage, from: string) =>
    queueMicrotask(() => {
      if (to !== lead) return nodes.get(to)?.(msg, from);
      toLeader?.(msg, from);
      hooks.leaderTook(from, msg);
    });
  const leaderSends = (to: string, bytes: Uint8Array) => {
    const msg = parseMessage(bytes);
    const kind = msg?.t ?? "?";
    let list = kinds.get(to);
    if (!list) kinds.set(to, list = []);
    list.push(kind);
    hooks.leaderSent(to, kind, msg);
    if (!msg || hooks.lost(to, kind)) return;
    deliver(to, msg, lead);
    hooks.leaderDelivered(to, kind);
  };
  const service = new LeaderService({
    core,
    device: { publicKey: key, peer: () => undefined } as unknown as Pick<
      Device,
      "publicKey" | "peer"
    >,
    channel: {
      send: (to, msg) => leaderSends(to, encodeMessage(msg)),
      sendEncoded: leaderSends,
      listen: (h) => {
        toLeader = h;
        return () => {};
      },
    },
    logger: nullLogger,
    applyView: () => {},
    usePolicy: () => {},
    byeAnswerMs: () => 0,
    ...opts.service,
  });
  service.start();
  const syncs: NodeSync[] = [];
  const node = async (name: string, o: ControlNodeOptions = {}): Promise<ControlNode> => {
    const m = await join(name);
    let held: MembershipView = o.held === "whole" ? core.view() : {
      network: core.view().network,
      version: 0,
      members: core.view().members.filter((x) =>
        x.role === "leader" || x.publicKey === m.publicKey
      ),
    };
    const sync = new NodeSync({
      channel: {
        send: (to, msg) => {
          if (o.drops && msg.t === "hello") {
            const rest: Partial<Hello> = { ...msg };
            for (const f of o.drops) delete rest[f];
            msg = rest as Hello;
          }
          hooks.nodeSent(m.address, to, msg);
          const sent = hooks.tamper(m.address, msg);
          const parsed = sent && parseMessage(encodeMessage(sent));
          if (parsed) deliver(to, parsed, m.address);
        },
        listen: (h) => {
          nodes.set(m.address, h);
          return () => {};
        },
      },
      probe: () => Promise.resolve(1),
      state: { writeNode: () => Promise.resolve() },
      logger: nullLogger,
      publicKey: m.publicKey,
      address: m.address,
      leader: { publicKey: key, address: lead, endpoints: ["192.0.2.1:51820"] },
      view: () => held,
      applyView: (v) => held = v,
      policy: () => null,
      usePolicy: () => true,
      advertise: { endpoints: [], services: [], labels: {} },
      ...o.deps,
    }, { syncIntervalMs: 600_000, byeWaitMs: 50 });
    syncs.push(sync);
    sync.start(null);
    return { m, sync, held: () => held, sent: () => kinds.get(m.address) ?? [] };
  };
  return {
    core,
    service,
    lead,
    hooks,
    join,
    node,
    fromLeader: (to, msg) => {
      const parsed = parseMessage(encodeMessage(msg));
      if (parsed) deliver(to, parsed, lead);
    },
    close: async () => {
      for (const s of syncs) await s.close();
      service.close();
    },
  };
}
