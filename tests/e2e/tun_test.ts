/**
 * LinuxTun end to end, as root, inside network namespaces the tests make and remove. The TUN code
 * runs in a Deno child process started under `ip netns exec` (tests/fixtures/tun_echo.ts); the
 * host side pings addresses routed into the TUN and the fixture answers with hand-built replies.
 */

import assert from "node:assert/strict";

const FIXTURE = new URL("../fixtures/tun_echo.ts", import.meta.url).pathname;
const NAME = "weft-e2e0";

const isRoot = Deno.uid() === 0;
const hasTools = await Promise.all(["ip", "ping"].map(async (cmd) => {
  try {
    return (await new Deno.Command("which", { args: [cmd], stdout: "null" }).output()).success;
  } catch {
    return false;
  }
})).then((found) => found.every(Boolean));
const ignore = !isRoot || !hasTools;

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

async function run(cmd: string, ...args: string[]): Promise<Run> {
  const out = await new Deno.Command(cmd, { args, stdout: "piped", stderr: "piped" }).output();
  const dec = new TextDecoder();
  return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
}

async function must(cmd: string, ...args: string[]): Promise<string> {
  const r = await run(cmd, ...args);
  if (r.code !== 0) throw new Error(`${cmd} ${args.join(" ")} failed: ${r.stderr}`);
  return r.stdout;
}

/** Runs `body` in a fresh namespace with loopback up; always deletes the namespace. */
async function withNamespace(body: (ns: string) => Promise<void>): Promise<void> {
  const ns = `weft-${crypto.randomUUID().slice(0, 8)}`;
  await must("ip", "netns", "add", ns);
  try {
    await must("ip", "-n", ns, "link", "set", "lo", "up");
    await body(ns);
  } finally {
    await run("ip", "netns", "del", ns);
  }
}

type Event = Record<string, unknown> & { event: string };

/** The fixture as a child process, with its JSON-line events. */
class Fixture {
  readonly #child: Deno.ChildProcess;
  readonly #events: Event[] = [];
  readonly #waiters: (() => void)[] = [];
  readonly #pump: Promise<void>;
  stderr = "";

  constructor(ns: string, mode: string) {
    this.#child = new Deno.Command("ip", {
      args: [
        "netns",
        "exec",
        ns,
        Deno.execPath(),
        "run",
        "-A",
        "--unstable-net",
        FIXTURE,
        NAME,
        mode,
      ],
      stdin: "piped",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    this.#pump = this.#read();
  }

  async #read(): Promise<void> {
    const errText = new Response(this.#child.stderr).text().then((t) => (this.stderr = t));
    let buffered = "";
    for await (const chunk of this.#child.stdout.pipeThrough(new TextDecoderStream())) {
      buffered += chunk;
      let nl;
      while ((nl = buffered.indexOf("\n")) >= 0) {
        const line = buffered.slice(0, nl);
        buffered = buffered.slice(nl + 1);
        if (line.startsWith("{")) this.#events.push(JSON.parse(line));
        for (const wake of this.#waiters.splice(0)) wake();
      }
    }
    await errText;
    for (const wake of this.#waiters.splice(0)) wake();
  }

  /** Every event seen so far with this name. */
  all(name: string): Event[] {
    return this.#events.filter((e) => e.event === name);
  }

  /** Waits for the first event named `name` (fails fast on `failed`, or after `ms`). */
  async next(name: string, ms = 20000): Promise<Event> {
    const deadline = Date.now() + ms;
    for (;;) {
      const hit = this.#events.find((e) => e.event === name);
      if (hit) return hit;
      const failed = this.#events.find((e) => e.event === "failed");
      if (failed) throw new Error(`fixture failed: ${failed.message}\n${this.stderr}`);
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`no "${name}" event from the fixture\n${this.stderr}`);
      let timer: ReturnType<typeof setTimeout> | undefined;
      await Promise.race([
        new Promise<void>((r) => this.#waiters.push(r)),
        new Promise<void>((r) => timer = setTimeout(r, Math.min(left, 500))),
      ]);
      clearTimeout(timer);
    }
  }

  /** Kills the fixture without letting it clean up, as a crash would. */
  kill(): void {
    this.#child.kill("SIGKILL");
  }

  /** Closes stdin (the fixture's signal to shut down) and waits for it to exit. */
  async stop(): Promise<Deno.CommandStatus> {
    try {
      await this.#child.stdin.close();
    } catch {
      // Already closed.
    }
    const timer = setTimeout(() => {
      try {
        this.#child.kill("SIGKILL");
      } catch {
        // Already gone.
      }
    }, 15000);
    const status = await this.#child.status;
    clearTimeout(timer);
    await this.#pump;
    return status;
  }
}

async function ping(ns: string, address: string): Promise<Run> {
  const v6 = address.includes(":") ? ["-6"] : [];
  return await run("ip", "netns", "exec", ns, "ping", ...v6, "-c1", "-W2", address);
}

async function linkExists(ns: string): Promise<boolean> {
  return (await run("ip", "-n", ns, "link", "show", "dev", NAME)).code === 0;
}

Deno.test({
  name: "LinuxTun: ping through a TUN answered by the fixture; a stale TUN is taken over",
  ignore,
  async fn() {
    await withNamespace(async (ns) => {
      // A leftover persistent TUN of the same name, with stale configuration.
      await must("ip", "-n", ns, "tuntap", "add", "dev", NAME, "mode", "tun");
      await must("ip", "-n", ns, "addr", "add", "10.88.0.1/24", "dev", NAME);

      const fx = new Fixture(ns, "direct");
      let stopped = false;
      try {
        const ready = await fx.next("ready");
        assert.equal(ready.name, NAME);
        assert.equal(ready.mtu, 1420);

        const link = JSON.parse(await must("ip", "-n", ns, "-j", "addr", "show", "dev", NAME));
        assert.equal(link[0].mtu, 1420);
        assert.ok(link[0].flags.includes("UP"));
        const addrs = link[0].addr_info.map((a: { local: string }) => a.local);
        assert.ok(addrs.includes("10.77.0.1"), addrs.join(" "));
        assert.ok(addrs.includes("fd00:77::1"), addrs.join(" "));
        assert.ok(!addrs.includes("10.88.0.1"), "stale address flushed");
        const routes = await must("ip", "-n", ns, "route", "show", "dev", NAME);
        assert.match(routes, /^10\.78\.0\.0\/16 /m);
        assert.match(routes, /^10\.79\.0\.1 /m);
        assert.match(
          await must("ip", "-n", ns, "-6", "route", "show", "dev", NAME),
          /^fd00:78::\/48 /m,
        );

        const r4 = await ping(ns, "10.77.0.2");
        assert.equal(r4.code, 0, `ping 10.77.0.2: ${r4.stdout}${r4.stderr}`);
        assert.match(r4.stdout, /1 received/);
        const r6 = await ping(ns, "fd00:77::2");
        assert.equal(r6.code, 0, `ping fd00:77::2: ${r6.stdout}${r6.stderr}`);
        for (const address of ["10.78.3.4", "10.79.0.1"]) {
          const routed = await ping(ns, address);
          assert.equal(routed.code, 0, `ping ${address}: ${routed.stdout}${routed.stderr}`);
        }

        const requests = fx.all("request");
        assert.deepEqual(
          requests.map((e) => [e.family, e.dst]),
          [[4, "10.77.0.2"], [6, "fd00:77:0:0:0:0:0:2"], [4, "10.78.3.4"], [4, "10.79.0.1"]],
        );

        const status = await fx.stop();
        stopped = true;
        assert.equal(status.code, 0, fx.stderr);
        const closed = await fx.next("closed");
        const stats = closed.tun as Record<string, number>;
        assert.ok(stats.packetsIn >= 4);
        assert.equal(stats.packetsOut, 4);
        assert.equal(stats.writeErrors, 0);
        assert.equal(closed.polled, 0);
        // Closing the fd deleted the interface, and its routes with it.
        assert.equal(await linkExists(ns), false);
        assert.doesNotMatch(await must("ip", "-n", ns, "route", "show"), /10\.7[89]\./);
        assert.doesNotMatch(await must("ip", "-n", ns, "-6", "route", "show"), /fd00:78/);
      } finally {
        if (!stopped) await fx.stop();
      }
    });
  },
});

Deno.test({
  name: "LinuxTun + LinuxUdpTransport share one Poller (echo relayed over UDP loopback)",
  ignore,
  async fn() {
    await withNamespace(async (ns) => {
      // A leftover TAP of the same name cannot be attached as a TUN: it must be replaced.
      await must("ip", "-n", ns, "tuntap", "add", "dev", NAME, "mode", "tap");
      const fx = new Fixture(ns, "relay");
      let stopped = false;
      try {
        const ready = await fx.next("ready");
        assert.equal(ready.polled, 2);
        const kind = JSON.parse(await must("ip", "-n", ns, "-d", "-j", "link", "show", NAME));
        assert.equal(kind[0].linkinfo.info_data.type, "tun");
        for (const address of ["10.77.0.9", "fd00:78::5"]) {
          const r = await ping(ns, address);
          assert.equal(r.code, 0, `ping ${address}: ${r.stdout}${r.stderr}`);
        }
        const status = await fx.stop();
        stopped = true;
        assert.equal(status.code, 0, fx.stderr);
        const closed = await fx.next("closed");
        const udp = closed.udp as Record<string, number>;
        assert.equal(udp.datagramsOut, 2);
        assert.equal(udp.datagramsIn, 2);
        assert.equal((closed.tun as Record<string, number>).packetsOut, 2);
        assert.equal(await linkExists(ns), false);
      } finally {
        if (!stopped) await fx.stop();
      }
    });
  },
});

Deno.test({
  name: "LinuxTun: a run killed with SIGKILL does not block the next start",
  ignore,
  async fn() {
    await withNamespace(async (ns) => {
      const first = new Fixture(ns, "direct");
      await first.next("ready");
      first.kill();
      await first.stop();
      const second = new Fixture(ns, "direct");
      try {
        await second.next("ready");
        const r = await ping(ns, "10.77.0.3");
        assert.equal(r.code, 0, `ping 10.77.0.3: ${r.stdout}${r.stderr}`);
      } finally {
        assert.equal((await second.stop()).code, 0, second.stderr);
      }
      assert.equal(await linkExists(ns), false);
    });
  },
});

Deno.test({
  name: "LinuxTun refuses to delete a non-TUN interface that has its name",
  ignore,
  async fn() {
    await withNamespace(async (ns) => {
      await must("ip", "-n", ns, "link", "add", NAME, "type", "bridge");
      const fx = new Fixture(ns, "direct");
      const status = await fx.stop();
      assert.notEqual(status.code, 0);
      const failed = fx.all("failed");
      assert.equal(failed.length, 1);
      assert.match(String(failed[0].message), /kind "bridge"/);
      assert.equal(await linkExists(ns), true);
    });
  },
});
