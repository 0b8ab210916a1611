import assert from "node:assert/strict";
import { LinuxKernelRoutes } from "./kernel_routes.ts";

Deno.test("kernel routes: ip route replace and del through the interface, in the table given", async () => {
  const calls: string[] = [];
  let answer = { code: 0, stderr: "" };
  const routes = new LinuxKernelRoutes("weft0", {
    table: "51820",
    run: (args) => {
      calls.push(args.join(" "));
      return Promise.resolve(answer);
    },
  });
  await routes.add("198.51.100.0/24");
  await routes.remove("2001:db8::/32");
  assert.deepEqual(calls, [
    "-4 route add 198.51.100.0/24 dev weft0 table 51820",
    "-6 route del 2001:db8::/32 dev weft0 table 51820",
  ]);
  answer = { code: 2, stderr: "RTNETLINK answers: No such process" };
  await routes.remove("198.51.100.0/24");
  answer = { code: 2, stderr: "RTNETLINK answers: Invalid argument" };
  await assert.rejects(() => routes.add("198.51.100.0/24"), /Invalid argument/);
  await assert.rejects(() => routes.add("198.51.100.1/24"), /canonical prefix/);
  assert.throws(() => new LinuxKernelRoutes("bad name"), /invalid interface name/);
  assert.throws(() => new LinuxKernelRoutes("weft0", { table: "a b" }), /invalid routing table/);
});

Deno.test("kernel routes: a route the host has already is never replaced; ours again is fine", async () => {
  let shown = "198.51.100.0/24 via 192.0.2.254 dev eth0";
  const routes = new LinuxKernelRoutes("weft0", {
    run: (args) =>
      Promise.resolve(
        args[1] === "route" && args[2] === "add"
          ? { code: 2, stderr: "RTNETLINK answers: File exists" }
          : { code: 0, stderr: "", stdout: shown },
      ),
  });
  await assert.rejects(() => routes.add("198.51.100.0/24"), /already routes 198\.51\.100\.0\/24/);
  shown = "198.51.100.0/24 dev weft0 scope link";
  await routes.add("198.51.100.0/24");
});
