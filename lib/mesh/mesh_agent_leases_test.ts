/**
 * Service leaders on in-process mesh agents (tests/fixtures/memory_mesh.ts): a leader and three
 * nodes, two of which offer `svc`, with the default lease timing. One instance leads; its health
 * check failing, its node cut off and its node stopping each move the leadership to the other,
 * and every node's view and DNS (`leader.svc.<zone>`) follow. The failover times are printed
 * (figures, not assertions: the box is shared).
 */
import assert from "node:assert/strict";
import { TEST, withLab } from "../../tests/fixtures/memory_mesh.ts";
import { freePort } from "../../tests/fixtures/procs.ts";
import { HANG_GUARD_MS } from "../../tests/fixtures/netns.ts";
import { DnsClass, DnsType } from "../dns/wire.ts";
import { formatAddress } from "../net/ip.ts";
import type { ServiceLeader } from "../services/lease/runtime.ts";
import type { MeshAgent } from "./mesh_agent.ts";

/** Resolves once `a`'s leader of `svc` satisfies `ok` (now, or at a change event). */
function leaderWhen(
  a: MeshAgent,
  ok: (l: ServiceLeader | null) => boolean,
  what: string,
): Promise<ServiceLeader | null> {
  return new Promise((resolve, reject) => {
    const now = a.services.serviceLeader("svc");
    if (ok(now)) return resolve(now);
    // A guard against a hang only: the wait itself ends at the event.
    const guard = setTimeout(() => {
      stop();
      reject(new Error(`${a.name}: no change to ${what}`));
    }, HANG_GUARD_MS);
    const stop = a.services.onServiceLeader((c) => {
      if (c.name !== "svc" || !ok(c.leader)) return;
      clearTimeout(guard);
      stop();
      resolve(c.leader);
    });
  });
}

/** What `a`'s own DNS answers for `leader.svc.overlay.local` (A), as addresses. */
function dnsLeader(a: MeshAgent): string[] {
  const answer = a.dns!.zone.answer({
    name: "leader.svc.overlay.local",
    type: DnsType.A,
    class: DnsClass.IN,
  });
  return (answer?.answers ?? []).flatMap((r) =>
    r.data.kind === "address" ? [formatAddress(r.data.address)] : []
  );
}

Deno.test({
  ...TEST,
  name: "service leaders: one leader; failover on failing health, a cut-off node and a stop",
  fn: () =>
    withLab(async (lab) => {
      const svc = [{ name: "svc", port: 8080, protocol: "tcp" as const }];
      const leader = await lab.startLeader({ dnsPort: freePort() });
      const a = await lab.start("a", "192.0.2.11", { services: svc, dnsPort: freePort() });
      const b = await lab.start("b", "192.0.2.12", { services: svc, dnsPort: freePort() });
      const c = await lab.start("c", "192.0.2.13", { dnsPort: freePort() });
      const all = [leader, a, b, c];
      const figures: string[] = [];
      /** Waits until every agent in `who` names `name` the leader; returns the ms it took. */
      const agreeOn = async (who: MeshAgent[], name: string, since: number) => {
        const seen = await Promise.all(
          who.map((x) => leaderWhen(x, (l) => l?.member === name, `leader ${name}`)),
        );
        const ms = Math.round(performance.now() - since);
        const tokens = new Set(seen.map((l) => l!.token));
        assert.equal(tokens.size, 1, `one token in every view: ${[...tokens]}`);
        return { ms, token: [...tokens][0] };
      };

      // The first election: exactly one of the two instances leads, and everyone agrees.
      const first = await leaderWhen(c, (l) => l !== null, "a first leader");
      const one = first!.member === "a" ? a : b;
      const two = one === a ? b : a;
      const start = await agreeOn(all, one.name, performance.now());
      assert.ok(one.services.isServiceLeader("svc"));
      assert.equal(two.services.isServiceLeader("svc"), false);
      assert.equal(one.services.serviceLease("svc")!.token, start.token);
      for (const x of all) assert.deepEqual(dnsLeader(x), [one.self!.address], x.name);

      // Its health check fails: it gives the lease up and the other instance takes it.
      let t0 = performance.now();
      one.services.setServiceHealth("svc", false);
      assert.equal(one.services.isServiceLeader("svc"), false, "stepped down at once");
      const health = await agreeOn(all, two.name, t0);
      figures.push(`health check failing: ${health.ms} ms`);
      assert.ok(health.token > start.token, "a new lease, a higher fencing token");
      for (const x of all) assert.deepEqual(dnsLeader(x), [two.self!.address], x.name);
      one.services.setServiceHealth("svc", true);

      // The leading node is cut off from everyone: it steps down by its own clock when its
      // lease runs out, and the other side elects only after that.
      const cutIp = two === a ? "192.0.2.11" : "192.0.2.12";
      const unblock = lab.nats.block((from, to) =>
        from.startsWith(`${cutIp}:`) || to.startsWith(`${cutIp}:`)
      );
      t0 = performance.now();
      const stepDown = leaderWhen(two, (l) => l === null, "no leader on the cut-off node");
      const cut = await agreeOn([leader, one, c], one.name, t0);
      await stepDown;
      figures.push(`leading node cut off: ${cut.ms} ms`);
      assert.ok(cut.token > health.token);
      assert.equal(two.services.isServiceLeader("svc"), false);
      for (const x of [leader, one, c]) assert.deepEqual(dnsLeader(x), [one.self!.address]);
      // Back on the network it learns the leader, and does not take the lease back.
      unblock();
      await agreeOn([two], one.name, performance.now());
      assert.equal(two.services.isServiceLeader("svc"), false);

      // The leading node stops (closes): its lease is given up as it goes, the other takes it.
      t0 = performance.now();
      const waits = agreeOn([leader, two, c], two.name, t0);
      await lab.close(one);
      const stop = await waits;
      figures.push(`leading node stopped: ${stop.ms} ms`);
      assert.ok(stop.token > cut.token);
      for (const x of [leader, two, c]) assert.deepEqual(dnsLeader(x), [two.self!.address]);
      const arbiter = leader.services.leaseStats()!.arbiter!;
      // At least: a stall of the shared box longer than a lease can add a lapse and a grant.
      assert.ok(arbiter.released >= 2 && arbiter.expired >= 1, JSON.stringify(arbiter));
      console.log(`service leader failover: ${figures.join("; ")}`);
    }),
});
