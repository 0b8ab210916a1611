/**
 * The member edits on a plain document (no store): what a hello updates (and what it cannot),
 * a bye, a removal that remembers the key and holds the name.
 */
import assert from "node:assert/strict";
import { MAX_LAN } from "../../members/member.ts";
import { LeaderError, LeaderNotFoundError } from "./errors.ts";
import {
  checkedUpdate,
  leave,
  type MemberUpdate,
  removeMember,
  updated,
  updateMember,
} from "./member_edits.ts";
import { helloUpdate } from "./hello_update.ts";
import { grantedServices } from "./service_edits.ts";
import type { Member } from "../../members/member.ts";
import type { EditContext } from "./edit_context.ts";
import type { LeaderFile } from "../state/state.ts";
import {
  apply,
  DOC_LEADER_KEY,
  nodeRecord,
  plainContext,
  plainDocument,
} from "./testing/documents.ts";

const svc = (name: string) => ({ name, port: 80, protocol: "tcp" as const });

function withNode(extra = {}) {
  const ctx = plainContext();
  const d = plainDocument();
  const n = nodeRecord("n1", "10.77.0.2", { endpoints: ["192.0.2.5:1"], ...extra });
  ctx.index(d).add(n);
  return { ctx, d, n };
}

Deno.test("member edits: an update is checked: bad granted labels refused, others' node labels dropped", () => {
  assert.throws(() => checkedUpdate({ labels: { "node.weft/x": "1" } }), LeaderError);
  assert.deepEqual(
    checkedUpdate({ nodeLabels: { "node.weft/os": "linux", role: "admin" } }).nodeLabels,
    { "node.weft/os": "linux" },
  );
});

Deno.test("member edits: a hello's fields update the record; the same again is no change", () => {
  const { ctx, d, n } = withNode();
  const lan = Array.from({ length: 10 }, (_, i) => `198.51.100.${i % 9}:51820`);
  const patch = checkedUpdate({
    endpoints: Array.from({ length: 10 }, (_, i) => `192.0.2.${i}:1`),
    lan,
    tcpPort: 443,
    services: [svc("web")],
    nodeLabels: { "node.weft/os": "linux" },
  });
  const r = apply(d, (d, touch) => updateMember(ctx, d, touch, n.publicKey, patch));
  assert.deepEqual([r.result, r.write, r.touched], [true, true, [n.publicKey]]);
  const m = ctx.index(d).byKey(n.publicKey)!;
  assert.equal(m.endpoints.length, 8);
  assert.deepEqual(m.lan, lan.slice(0, MAX_LAN));
  assert.equal(m.tcpPort, 443);
  assert.deepEqual(m.services, [svc("web")]);
  assert.equal(updated(ctx, d, m, patch), null);
  assert.equal(
    apply(d, (d, touch) => updateMember(ctx, d, touch, n.publicKey, patch)).write,
    false,
  );
  // Empty lists and null remove the fields.
  apply(d, (d, touch) => updateMember(ctx, d, touch, n.publicKey, { lan: [], tcpPort: null }));
  const cleared = ctx.index(d).byKey(n.publicKey)!;
  assert.equal("lan" in cleared, false);
  assert.equal("tcpPort" in cleared, false);
  assert.equal(apply(d, (d, touch) => updateMember(ctx, d, touch, "nobody", patch)).result, false);
});

// What updated() did before it compared first: the record made whole, then its JSON compared.
function madeThenCompared(
  ctx: EditContext,
  d: LeaderFile,
  old: Member,
  patch: MemberUpdate,
): Member | null {
  const m: Member = {
    ...old,
    ...(patch.endpoints ? { endpoints: [...new Set(patch.endpoints)].slice(0, 8) } : {}),
    ...(patch.observed ? { observed: patch.observed } : {}),
    ...(patch.services ? { services: grantedServices(ctx, d, old, patch.services) } : {}),
    ...(patch.labels ? { labels: { ...patch.labels } } : {}),
    ...(patch.nodeLabels ? { nodeLabels: patch.nodeLabels } : {}),
    ...(patch.lan ? { lan: [...new Set(patch.lan)].slice(0, MAX_LAN) } : {}),
    ...(typeof patch.tcpPort === "number" ? { tcpPort: patch.tcpPort } : {}),
    ...(patch.advertisedRoutes ? { advertisedRoutes: [...patch.advertisedRoutes] } : {}),
    ...(patch.run ? { run: patch.run } : {}),
  };
  if (m.advertisedRoutes?.length === 0) delete m.advertisedRoutes;
  if (patch.relay === true && (old.role === "leader" || old.grants?.relay)) m.relay = true;
  else if (patch.relay !== undefined) delete m.relay;
  if (patch.tcpPort === null) delete m.tcpPort;
  if (patch.observed === null) delete m.observed;
  if (patch.online) delete m.offline;
  if (m.nodeLabels && Object.keys(m.nodeLabels).length === 0) delete m.nodeLabels;
  if (m.lan && m.lan.length === 0) delete m.lan;
  const text = (x: Member) =>
    JSON.stringify([
      x.endpoints,
      x.observed ?? "",
      x.services,
      x.labels,
      x.nodeLabels ?? {},
      x.lan ?? [],
      x.relay ?? false,
      x.tcpPort ?? 0,
      x.grants ?? {},
      x.offline ?? false,
      x.advertisedRoutes ?? [],
      x.routes ?? [],
      x.exitNode ?? false,
      x.run ?? "",
    ]);
  return text(m) === text(old) ? null : m;
}

Deno.test("member edits: updated gives what making the record whole and comparing it gave", () => {
  const { ctx, d } = withNode();
  // A small pool of values, so that records and updates often agree.
  // mulberry32: a seeded generator whose low bits are as random as its high ones.
  let seed = 7;
  const rand = (n: number) => {
    let t = seed = (seed + 0x6d2b79f5) | 0;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return Math.floor((((t ^ (t >>> 14)) >>> 0) / 2 ** 32) * n);
  };
  const pick = <T>(xs: readonly T[]): T => xs[rand(xs.length)];
  const ep = ["192.0.2.1:1", "192.0.2.2:1", "198.51.100.3:2"];
  const list = (max: number) => Array.from({ length: rand(max + 1) }, () => pick(ep));
  const maybe = <T>(v: () => T): T | undefined => rand(3) === 0 ? undefined : v();
  const labelSets: Record<string, string>[] = [{}, { app: "web" }, { app: "db" }];
  let same = 0;
  for (let i = 0; i < 20_000; i++) {
    const extra: Partial<Member> = {
      endpoints: list(3),
      ...(rand(2) ? { observed: pick(ep) } : {}),
      ...(rand(2) ? { lan: list(2) } : {}),
      ...(rand(2) ? { tcpPort: pick([443, 8443]) } : {}),
      ...(rand(2) ? { relay: true } : {}),
      ...(rand(2) ? { grants: rand(2) ? { relay: true as const } : {} } : {}),
      ...(rand(2) ? { run: pick(["r1", "r2"]) } : {}),
      ...(rand(3) === 0 ? { offline: true } : {}),
      ...(rand(2)
        ? { nodeLabels: pick<Record<string, string>>([{ "node.weft/os": "linux" }, {}]) }
        : {}),
      ...(rand(2) ? { advertisedRoutes: pick([["10.9.0.0/24"], []]) } : {}),
      ...(rand(3) === 0 ? { role: "leader" as const } : {}),
      ...(rand(4) === 0 ? { services: [svc(pick(["web", "db"]))] } : {}),
      labels: pick(labelSets),
    };
    const old = nodeRecord("n", "10.77.0.9", extra);
    // Half the updates say the record again (as a node's hellos do), some with one field off.
    const again: MemberUpdate = {
      endpoints: [...old.endpoints, ...old.endpoints.slice(0, rand(2))],
      observed: old.observed ?? null,
      services: old.services,
      nodeLabels: old.nodeLabels ?? {},
      lan: old.lan ?? [],
      relay: old.relay === true,
      tcpPort: old.tcpPort ?? null,
      advertisedRoutes: old.advertisedRoutes ?? [],
      ...(old.run ? { run: old.run } : {}),
      ...(old.offline ? {} : { online: true as const }),
    };
    const random: MemberUpdate = {
      endpoints: maybe(() => list(10)),
      observed: maybe(() => rand(4) === 0 ? null : pick(ep)),
      services: maybe(() => rand(4) ? [] : [svc(pick(["web", "db"]))]),
      labels: rand(4) === 0 ? { ...pick(labelSets) } : undefined,
      nodeLabels: maybe(() =>
        pick<Record<string, string>>([{ "node.weft/os": "linux" }, { "node.weft/os": "bsd" }, {}])
      ),
      lan: maybe(() => list(10)),
      relay: maybe(() => rand(2) === 1),
      tcpPort: maybe(() => pick([443, 8443, null])),
      advertisedRoutes: maybe(() => pick([["10.9.0.0/24"], [], ["10.8.0.0/24"]])),
      run: maybe(() => pick(["r1", "r2"])),
      ...(rand(2) ? { online: true as const } : {}),
    };
    const keys = Object.keys(random) as (keyof MemberUpdate)[];
    const off = pick(keys);
    const patch = checkedUpdate(
      rand(2) ? random : rand(2) ? again : { ...again, [off]: random[off] } as MemberUpdate,
    );
    const want = madeThenCompared(ctx, d, old, patch);
    const got = updated(ctx, d, old, patch);
    // Field for field and in the same order: the record's JSON is what is stored and sent.
    assert.equal(JSON.stringify(got), JSON.stringify(want), JSON.stringify({ old, patch }));
    if (got === null) same++;
  }
  // Not all alike, not all different: the updates test both answers.
  assert.ok(same > 1000 && same < 19_000, `${same} updates changed nothing`);
});

Deno.test("member edits: a hello is compared before anything is copied", () => {
  const { ctx, d } = withNode();
  // What a node's hello says again, as helloUpdate makes it: no change.
  const n = nodeRecord("n", "10.77.0.9", { endpoints: ["192.0.2.1:1"], observed: "192.0.2.1:1" });
  const again = helloUpdate(
    { t: "hello", v: 3, endpoints: [], services: [], labels: {} },
    "192.0.2.1:1",
  );
  assert.equal(updated(ctx, d, n, checkedUpdate(again.update)), null);
  // Past the first 8 distinct endpoints a hello's are not kept: the same 8 and more is no change.
  const ten = Array.from({ length: 10 }, (_, i) => `192.0.2.${i}:1`);
  const full = nodeRecord("f", "10.77.0.8", { endpoints: ten.slice(0, 8), lan: ten.slice(2, 4) });
  assert.equal(updated(ctx, d, full, { endpoints: ten, lan: ten.slice(2, 4) }), null);
  assert.deepEqual(updated(ctx, d, full, { endpoints: ten.slice(1) })?.endpoints, ten.slice(1, 9));
  // A new run with the same lists: the record's lists are kept, not copied again.
  const run = updated(ctx, d, full, { endpoints: [...ten], lan: ten.slice(2, 4), run: "r9" });
  assert.equal(run?.run, "r9");
  assert.equal(run?.endpoints, full.endpoints);
  assert.equal(run?.lan, full.lan);
});

Deno.test("member edits: a node relays only when willing and granted", () => {
  const plain = withNode();
  assert.equal(updated(plain.ctx, plain.d, plain.n, { relay: true })?.relay, undefined);
  const granted = withNode({ grants: { relay: true } });
  assert.equal(updated(granted.ctx, granted.d, granted.n, { relay: true })?.relay, true);
  const relaying = { ...granted.n, relay: true as const };
  assert.equal("relay" in updated(granted.ctx, granted.d, relaying, { relay: false })!, false);
});

Deno.test("member edits: a bye withdraws the services and marks the node offline, once", () => {
  const { ctx, d, n } = withNode({ services: [svc("web")] });
  const r = apply(d, (d, touch) => leave(ctx, d, touch, n.publicKey));
  assert.deepEqual([r.result, r.touched], [true, [n.publicKey]]);
  const m = ctx.index(d).byKey(n.publicKey)!;
  assert.deepEqual([m.services, m.offline], [[], true]);
  assert.equal(apply(d, (d, touch) => leave(ctx, d, touch, n.publicKey)).result, false);
  assert.equal(apply(d, (d, touch) => leave(ctx, d, touch, DOC_LEADER_KEY)).result, false);
  // Its next hello says it runs again.
  apply(d, (d, touch) => updateMember(ctx, d, touch, n.publicKey, { online: true }));
  assert.equal("offline" in ctx.index(d).byKey(n.publicKey)!, false);
});

Deno.test("member edits: a removal remembers the key and its name; never this leader", () => {
  const { ctx, d, n } = withNode();
  d.joins.set(n.publicKey, { token: "t1", at: 0, heard: true, time: 1_500 });
  const r = apply(d, (d, touch) => removeMember(ctx, d, touch, "10.77.0.2", 9_000));
  assert.equal(r.result.name, "n1");
  assert.equal(ctx.index(d).byKey(n.publicKey), undefined);
  assert.equal(d.joins.get(n.publicKey), undefined);
  assert.deepEqual(d.left![n.publicKey], {
    time: 1_500,
    at: 9_000,
    removedToken: "t1",
    name: "n1",
  });
  assert.throws(() => removeMember(ctx, d, () => {}, "n1", 0), LeaderNotFoundError);
  assert.throws(() => removeMember(ctx, d, () => {}, "leader", 0), /cannot remove itself/);
});
