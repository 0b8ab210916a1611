/**
 * Issue 48's proof of authorization per service with real `weft` processes (TUN mode), each node
 * in its own namespace. n1 offers `echo` (an HTTP backend); n2 joins with a token granting
 * `role=web`, n3 with a plain one. Before any call rule, both call echo. Then the leader puts in
 * force a policy whose only rule lets `role=web` call echo: `weft call echo/x` from n2 is
 * answered, from n3 it exits non-zero with `forbidden` naming the default that refused it, and a
 * deny rule is named in its refusal; `weft policy test --call` says the same (exit 0 and 1), and
 * n1's /metrics counts the refusals by rule. Every bound asserted is a hang guard.
 */
import assert from "node:assert/strict";
import { canBuildLabs, eventually, HANG_GUARD_MS, haveCommands, Lab } from "../fixtures/netns.ts";
import {
  type LabProc,
  metricsOf,
  metricValue,
  nodeList,
  startMeshNode,
  waitUp,
  weftIn,
} from "../fixtures/mesh_lab.ts";
import { startEchoBackend } from "../fixtures/services_lab.ts";

const ignore = !(await canBuildLabs()) || !(await haveCommands("curl"));

const OPTS = { cidr: "10.93.0.0/24", ifPrefix: "wz" };

const WEB_ONLY = `
calls:
  - name: web-calls-echo
    action: allow
    from: "role=web"
    service: echo
`;

const NO_N2 = `
calls:
  - name: not-n2
    action: deny
    priority: 10
    from: { names: [n2] }
    service: echo
    actions: [x]
  - name: web-calls-echo
    action: allow
    from: "role=web"
    service: echo
`;

Deno.test({
  name: "service authorization: a caller without the granted label is refused, with it answered",
  ignore,
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    const hosts = ["lead", "n1", "n2", "n3"];
    const lab = await Lab.create(hosts);
    const dir = await Deno.makeTempDir({ prefix: "weft-authz-" });
    const running = new Map<string, LabProc>();
    const weft = (host: string, ...args: string[]) => weftIn(lab, host, dir, ...args);
    try {
      const leader = startMeshNode(lab, { ...OPTS, dir }, "lead", [
        "--leader",
        "--advertise",
        "192.0.2.1:51820",
      ]);
      running.set("lead", leader);
      await waitUp(lab, "lead", dir, leader);
      const create = async (...extra: string[]) => {
        const r = await weft("lead", "token", "create", "--uses", "2", ...extra);
        assert.equal(r.code, 0, r.stderr);
        return r.stdout.trim();
      };
      const web = await create("--label", "role=web");
      const plain = await create();
      await startEchoBackend(lab, "n1", 8080);
      const joins: [string, string[]][] = [
        ["n1", [
          "--join",
          plain,
          "--service",
          "echo:8080/tcp",
          "--service-http",
          "echo=http://127.0.0.1:8080",
        ]],
        ["n2", ["--join", web]],
        ["n3", ["--join", plain]],
      ];
      for (const [h, args] of joins) {
        const r = startMeshNode(lab, { ...OPTS, dir }, h, args);
        running.set(h, r);
        await waitUp(lab, h, dir, r);
      }
      for (const h of hosts) {
        assert.ok(
          await eventually(async () => (await nodeList(lab, h, dir))?.length === 4, HANG_GUARD_MS),
          `${h} does not see 4 nodes`,
        );
      }
      const call = (h: string) => weft(h, "call", "echo/x", '{"n":1}', "--timeout", "5000");
      // Without call rules the service is open: both callers are answered (once n1's echo is seen).
      for (const h of ["n2", "n3"]) {
        assert.ok(
          await eventually(async () => (await call(h)).code === 0, HANG_GUARD_MS),
          `${h} cannot call echo before any rule: ${(await call(h)).stderr}`,
        );
      }

      // The policy: only role=web may call echo. Wait for n1 (the callee) to hold it.
      const applied = async (name: string, text: string) => {
        const path = `${dir}/${name}`;
        await Deno.writeTextFile(path, text);
        const r = await weft("lead", "policy", "apply", path);
        assert.equal(r.code, 0, r.stderr);
        const version = Number(/policy version (\d+) in force/.exec(r.stdout)?.[1]);
        const held = await eventually(async () => {
          const s = await weft("n1", "policy", "show", "--json");
          return s.code === 0 && JSON.parse(s.stdout).version >= version;
        }, HANG_GUARD_MS);
        assert.ok(held, `n1 does not hold policy version ${version}`);
      };
      await applied("web-only.yaml", WEB_ONLY);

      const ok = await call("n2");
      assert.equal(ok.code, 0, ok.stderr);
      console.log(`n2 (role=web): ${ok.stdout.trim().replaceAll("\n", " ")}`);
      const refused = await call("n3");
      console.log(`n3 (no label): exit ${refused.code}: ${refused.stderr.trim()}`);
      assert.equal(refused.code, 1, refused.stderr);
      assert.match(
        refused.stderr,
        /forbidden: call to echo\/x refused on n1: denied by default: call rules name echo and none lets n3 call echo\/x/,
      );

      // weft policy test explains the call as the callee decides it.
      const allowed = await weft("n3", "policy", "test", "--from", "n2", "--call", "echo/x");
      assert.equal(allowed.code, 0, allowed.stderr);
      assert.equal(
        allowed.stdout.trim(),
        "n2 calling echo/x: allowed by call rule web-calls-echo (priority 1000)",
      );
      const denied = await weft(
        "n2",
        "policy",
        "test",
        "--from",
        "n3",
        "--call",
        "echo/x",
        "--json",
      );
      assert.equal(denied.code, 1, denied.stderr);
      const d = JSON.parse(denied.stdout);
      assert.equal(d.allowed, false);
      assert.equal(d.decidedBy, "default");

      // A deny rule is named in the refusal.
      await applied("no-n2.yaml", NO_N2);
      const named = await call("n2");
      console.log(`n2 under not-n2: exit ${named.code}: ${named.stderr.trim()}`);
      assert.equal(named.code, 1, named.stderr);
      assert.match(
        named.stderr,
        /forbidden: call to echo\/x refused on n1: denied by call rule not-n2/,
      );

      // The callee counted each refusal by the rule that made it.
      const m = await metricsOf(lab, "n1");
      const count = (rule: string) =>
        metricValue(m, "weft_service_calls_denied_total", { service: "echo", rule });
      assert.equal(count("(default)"), 1, m);
      assert.equal(count("not-n2"), 1, m);
    } finally {
      await lab.destroy();
      await Deno.remove(dir, { recursive: true });
    }
  },
});
