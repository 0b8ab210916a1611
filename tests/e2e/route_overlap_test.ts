/**
 * The leader's check that its networks do not overlap a route of the machine reads the kernel's
 * tables itself: with no `ip` command on the PATH it still refuses an overlapping IPv4 or IPv6
 * network (exit 2), instead of passing silently.
 */
import assert from "node:assert/strict";
import { canBuildLabs, Lab } from "../fixtures/netns.ts";
import { selfCommand } from "../../lib/demo/self.ts";

const ignore = !(await canBuildLabs());
const [CMD, ...PRE] = selfCommand();

Deno.test({
  name: "without the ip command, networks that overlap a local route are still refused (exit 2)",
  ignore,
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    const lab = await Lab.create(["lead"]);
    const dir = await Deno.makeTempDir({ prefix: "weft-noip-" });
    try {
      await lab.run("lead", "ip", "route", "add", "10.93.0.0/16", "dev", "eth0");
      await lab.run("lead", "ip", "-6", "route", "add", "fd93::/48", "dev", "eth0");
      const cases: [string[], RegExp][] = [
        [
          ["--cidr", "10.93.4.0/24"],
          /network 10\.93\.4\.0\/24 overlaps a local route: 10\.93\.0\.0\/16 \(dev eth0\)/,
        ],
        [
          ["--cidr", "10.94.0.0/24", "--cidr6", "fd93:0:0:1::/64"],
          /network fd93:0:0:1::\/64 overlaps a local route: fd93::\/48 \(dev eth0\)/,
        ],
      ];
      for (const [flags, message] of cases) {
        const r = await lab.exec(
          "lead",
          "env",
          "PATH=/nonexistent",
          CMD,
          ...PRE,
          "--leader",
          ...flags,
          "--state-dir",
          `${dir}/s`,
          "--interface",
          `wn${lab.tag}`,
          "--dns-port",
          "0",
        );
        assert.equal(r.code, 2, r.stderr);
        assert.match(r.stderr, message);
      }
      assert.equal((await lab.exec("lead", "ip", "link", "show", `wn${lab.tag}`)).code, 1);
    } finally {
      await lab.destroy();
      await Deno.remove(dir, { recursive: true });
    }
  },
});
