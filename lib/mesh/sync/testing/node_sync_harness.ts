/**
 * The fixtures of NodeSync's tests (node_sync_test.ts, node_sync_leaders_test.ts): the leader,
 * this node, views of them, a sync over a fake channel, a logger whose lines are awaited.
 * @module
 */

import { NodeSync, type NodeSyncDeps } from "../node_sync.ts";
import type { ControlMessage } from "../protocol.ts";
import { StateDir } from "../../state/state.ts";
import type { VersionedPolicy } from "../../../policy/source.ts";
import { createLogger, type Logger, nullLogger } from "../../../log/logger.ts";
import type { Member, MembershipView } from "../../../members/member.ts";
import { member } from "../../../../tests/fixtures/members.ts";
import { HANG_GUARD_MS } from "../../../../tests/fixtures/netns.ts";

/** The leader's overlay address. */
export const LEADER = "10.3.0.1";
/** This node's overlay address. */
export const ME = "10.3.0.2";
/** The leader. */
export const leader = member("lead", LEADER, {
  publicKey: "K-lead",
  role: "leader",
  endpoints: ["192.0.2.1:1"],
});
/** This node. */
export const self = member("me", ME, { publicKey: "K-me" });

/** A view of `version` with `members` (the leader and this node). */
export function view(version: number, members: Member[] = [leader, self]): MembershipView {
  return { network: "10.3.0.0/24", version, members };
}

/**
 * A node's sync over a fake channel; what it sends, applies and puts in force is recorded. A
 * probe is answered (or fails) at once, as `answers` says of its address (default: answered).
 */
export async function harness(
  opts: {
    start?: MembershipView;
    usable?: boolean;
    nat?: Partial<NodeSyncDeps>;
    intervalMs?: number;
    answers?: (address: string) => boolean;
    logger?: Logger;
    leader?: NodeSyncDeps["leader"];
  } = {},
) {
  const dir = await Deno.makeTempDir({ prefix: "weft-node-sync-" });
  const sent: [string, ControlMessage][] = [];
  let handler: ((msg: ControlMessage, from: string) => void) | null = null;
  let held = opts.start ?? view(1);
  let policy: VersionedPolicy | null = null;
  const applied: [number, boolean | undefined][] = [];
  const probed: string[] = [];
  const deps: NodeSyncDeps = {
    channel: {
      send: (to, msg) => sent.push([to, msg]),
      listen: (h) => {
        handler = h;
        return () => {};
      },
    },
    probe: (address) => {
      probed.push(address);
      return Promise.resolve(opts.answers?.(address) ?? true ? 1 : null);
    },
    state: new StateDir(dir),
    logger: opts.logger ?? nullLogger,
    publicKey: "K-me",
    address: ME,
    leader: opts.leader ?? { publicKey: "K-lead", address: LEADER, endpoints: ["192.0.2.1:1"] },
    view: () => held,
    applyView: (v, announce) => {
      applied.push([v.version, announce]);
      held = v;
    },
    policy: () => policy,
    usePolicy: (p) => {
      if (opts.usable === false) return false;
      policy = p;
      return true;
    },
    advertise: { endpoints: ["198.51.100.2:51820"], services: [], labels: { "node.weft/x": "1" } },
    ...opts.nat,
  };
  const sync = new NodeSync(deps, { syncIntervalMs: opts.intervalMs ?? 60_000, byeWaitMs: 60 });
  const deliver = (msg: ControlMessage, from = LEADER) => handler!(msg, from);
  const saved = async () => {
    await sync.flush();
    try {
      return JSON.parse(await Deno.readTextFile(`${dir}/node.json`));
    } catch {
      return null;
    }
  };
  const cleanup = async () => {
    await sync.close();
    // A write a test's messages started may still be under way: it ends before the folder goes.
    await sync.flush();
    await Deno.remove(dir, { recursive: true });
  };
  // The hellos sent to the leader, in order.
  const hellos = () =>
    sent.filter(([to, m]) => to === LEADER && m.t === "hello").map(([, m]) =>
      m as Extract<ControlMessage, { t: "hello" }>
    );
  return {
    sync,
    sent,
    hellos,
    applied,
    probed,
    deliver,
    saved,
    cleanup,
    held: () => held,
    policy: () => policy,
  };
}

// Several leaders: a second one, and a member that is none.
/** A second leader's overlay address. */
export const LEADER2 = "10.3.0.9";
/** A second leader. */
export const leader2 = member("lead-2", LEADER2, {
  publicKey: "K-lead-2",
  role: "leader",
  endpoints: ["192.0.2.9:1"],
});
/** A member that is no leader. */
export const other = member("o", "10.3.0.3", { publicKey: "K-o" });

/** A logger whose lines are kept, and a wait for the first line that matches. */
export function logged() {
  const lines: string[] = [];
  const waiters: { re: RegExp; resolve: (line: string) => void }[] = [];
  const logger = createLogger({
    sink: (l) => {
      lines.push(l);
      for (const w of waiters.splice(0)) {
        if (w.re.test(l)) w.resolve(l);
        else waiters.push(w);
      }
    },
  });
  const line = (re: RegExp) =>
    new Promise<string>((resolve) => {
      const found = lines.find((l) => re.test(l));
      if (found) resolve(found);
      else waiters.push({ re, resolve });
    });
  return { logger, lines, line };
}

/** How many hellos went to `to`. */
export const hellosTo = (sent: [string, ControlMessage][], to: string) =>
  sent.filter(([a, m]) => a === to && m.t === "hello").length;

/** `p`, or a failure once the hang guard is over: a line that never comes fails the test. */
export function guarded<T>(p: Promise<T>): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error("not within the hang guard")), HANG_GUARD_MS);
  });
  return Promise.race([p, late]).finally(() => clearTimeout(timer));
}
