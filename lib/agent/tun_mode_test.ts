/**
 * openTunDevice: the TUN interface configured with the agent's addresses and its routes in the
 * main table (`auto`), nowhere (`off`) or a numbered table, and closed again when configuring
 * fails. Needs root: the test makes a network namespace, re-runs this file inside it
 * (`ip netns exec`) with WEFT_TUN_MODE_TEST_NS set, where the "inside:" tests run, and always
 * deletes the namespace, which also removes any interface left in it.
 */
import assert from "node:assert/strict";
import { openTunDevice } from "./tun_mode.ts";
import { haveCommands } from "../../tests/fixtures/netns.ts";
import { must, runInsideNamespace } from "../../tests/fixtures/netns.ts";

const INSIDE = Deno.env.get("WEFT_TUN_MODE_TEST_NS") !== undefined;
const CAN_RUN = Deno.build.os === "linux" && Deno.uid() === 0 && !INSIDE &&
  (await haveCommands("ip"));

const ip = (...args: string[]) => must("ip", ...args);

async function linkExists(name: string): Promise<boolean> {
  const out = await new Deno.Command("ip", {
    args: ["link", "show", "dev", name],
    stdout: "null",
    stderr: "null",
  }).output();
  return out.success;
}

function uniqueName(): string {
  return `wm${crypto.randomUUID().slice(0, 8)}`;
}

Deno.test({
  name: "tun mode in a network namespace of its own (runs the inside: tests there)",
  ignore: !CAN_RUN || Deno.uid() !== 0,
  fn: async () => {
    const { success, text } = await runInsideNamespace(
      new URL(import.meta.url).pathname,
      "WEFT_TUN_MODE_TEST_NS",
      "weft-tunmode",
    );
    assert.ok(success, text);
    assert.match(text, /ok \| 4 passed \| 0 failed/, text);
  },
});

const ADDRESSES = ["10.61.0.1/24", "fd00:61::1/64"];
const ROUTES = ["10.62.0.0/16", "10.63.1.2/32", "fd00:62::/48"];

/** The routes through `name` in `table` (main when not given), as `ip route` prints them. */
async function routesOf(name: string, table?: string): Promise<string[]> {
  const t = table === undefined ? [] : ["table", table];
  const v4 = await ip("-4", "route", "show", ...t, "dev", name);
  const v6 = await ip("-6", "route", "show", ...t, "dev", name);
  return (v4 + v6).split("\n").filter((l) => l !== "").map((l) => l.split(" ")[0]);
}

async function withTun(
  table: string | undefined,
  fn: (name: string) => Promise<void>,
): Promise<void> {
  const name = uniqueName();
  const tun = await openTunDevice({
    name,
    mtu: 1380,
    addresses: ADDRESSES,
    routes: ROUTES,
    table,
    onError: (e) => assert.fail(String(e)),
  });
  try {
    const addrs = await ip("-j", "addr", "show", "dev", name);
    assert.match(addrs, /"local":"10\.61\.0\.1","prefixlen":24/);
    assert.match(addrs, /"local":"fd00:61::1","prefixlen":64/);
    assert.match(await ip("link", "show", "dev", name), /mtu 1380/);
    await fn(name);
  } finally {
    await tun.close();
  }
  assert.equal(await linkExists(name), false);
}

Deno.test({
  name: "inside: table auto (and by default) routes every allowed IP in the main table",
  ignore: !INSIDE,
  fn: async () => {
    for (const table of [undefined, "auto"]) {
      await withTun(table, async (name) => {
        const main = await routesOf(name);
        for (const r of ["10.62.0.0/16", "10.63.1.2", "fd00:62::/48"]) {
          assert.ok(main.includes(r), `${r} in ${main}`);
        }
      });
    }
  },
});

Deno.test({
  name: "inside: table off adds the addresses but no routes",
  ignore: !INSIDE,
  fn: async () => {
    await withTun("off", async (name) => {
      const main = await routesOf(name);
      // Only the connected routes of the addresses themselves (and IPv6 link-local).
      for (const r of main) {
        assert.ok(["10.61.0.0/24", "fd00:61::/64", "fe80::/64"].includes(r), `unexpected ${r}`);
      }
      assert.ok(!main.includes("10.62.0.0/16"));
    });
  },
});

Deno.test({
  name: "inside: a numbered table gets the routes; the main table does not",
  ignore: !INSIDE,
  fn: async () => {
    await withTun("4242", async (name) => {
      const t = await routesOf(name, "4242");
      for (const r of ["10.62.0.0/16", "10.63.1.2", "fd00:62::/48"]) {
        assert.ok(t.includes(r), `${r} in table 4242: ${t}`);
      }
      const main = await routesOf(name);
      assert.ok(!main.includes("10.62.0.0/16") && !main.includes("fd00:62::/48"), `${main}`);
    });
  },
});

Deno.test({
  name: "inside: when configuring fails, the interface is closed again and the error thrown",
  ignore: !INSIDE,
  fn: async () => {
    const before = await ip("-o", "link", "show");
    // The first route is added, the second cannot be: the interface is half configured.
    for (
      const [routes, table] of [
        [["10.64.0.0/16", "10.65.0.0/40"], undefined],
        [["10.64.0.0/16"], "no such table!"],
      ] as const
    ) {
      const name = uniqueName();
      await assert.rejects(
        openTunDevice({
          name,
          mtu: 1420,
          addresses: ["10.66.0.1/24"],
          routes: [...routes],
          table,
          onError: (e) => assert.fail(String(e)),
        }),
      );
      assert.equal(await linkExists(name), false, `${name} left behind`);
    }
    assert.equal(await ip("-o", "link", "show"), before);
  },
});
