/**
 * The dashboard in headless Chromium: served from a fake three-node status source, it must load
 * without console errors, draw the three nodes and their links, show throughput, and mark a peer
 * down once the source says so: pushed over SSE when a change is announced, carried by the
 * periodic update when it is not, and polled when there is no event stream.
 * Screenshots land in `$WEFT_SCREENSHOTS` or a kept temp dir (the path is printed).
 */

import assert from "node:assert/strict";
import {
  CHROMIUM,
  CHROMIUM_ARGS,
  hasChromium as hasChromiumInstalled,
} from "../fixtures/chromium_ns.ts";
import { chromium, type Page } from "npm:playwright-core@^1.65.1";
import { Hono } from "npm:hono@^4.13.19";
import { dashboardRoutes, type DashboardStatus } from "../../lib/status/dashboard.ts";
import type { HealthState } from "../../lib/health/state.ts";

const hasChromium = hasChromiumInstalled();

const KiB = 1024;

/** A mesh of three as node alpha sees it; byte counters grow at fixed rates in real time. */
function fakeMesh() {
  const started = Date.now();
  const peers = [
    {
      publicKey: "xTIBA5rboUvnH4htodjb6e697QjLERt1NAB4mZqp8Dg=",
      name: "bravo",
      address: "10.9.0.2",
      endpoint: "192.0.2.2:51820",
      allowedIps: ["10.9.0.2/32"],
      health: "up" as HealthState,
      healthReason: "probes answered",
      rttMs: 0.84,
      loss: 0,
      rxRate: 50 * KiB,
      txRate: 20 * KiB,
    },
    {
      publicKey: "HIgo9xNzJMWLKASShiTqIybxZ0U3wGLiUeJ1PKf8ykw=",
      name: "charlie",
      address: "10.9.0.3",
      endpoint: "198.51.100.7:51820",
      allowedIps: ["10.9.0.3/32"],
      health: "up" as HealthState,
      healthReason: "probes answered",
      rttMs: 23.4,
      loss: 0.02,
      rxRate: 4 * KiB,
      txRate: 1 * KiB,
    },
  ];
  const listeners = new Set<(e: unknown) => void>();
  const status = (): DashboardStatus => {
    const secs = (Date.now() - started) / 1000;
    return {
      node: {
        publicKey: "IRb4IavWBd1m3KDnPqLC1MUyHxBNYQRb9q0hImPBzmQ=",
        name: "alpha",
        addresses: ["10.9.0.1/24"],
        role: "leader",
        version: "0.1.0",
        uptimeSeconds: Math.round(secs),
      },
      peers: peers.map(({ rxRate, txRate, ...p }) => ({
        ...p,
        rxBytes: Math.round(rxRate * secs),
        txBytes: Math.round(txRate * secs),
        lastHandshakeAgeSeconds: 12,
      })),
    };
  };
  return {
    status,
    subscribe: (fn: (e: unknown) => void) => {
      listeners.add(fn);
      return () => void listeners.delete(fn);
    },
    /** Changes a peer's health; `announce` also emits the transition as a change event. */
    setHealth(name: string, to: HealthState, reason: string, announce: boolean) {
      const p = peers.find((x) => x.name === name)!;
      const from = p.health;
      p.health = to;
      p.healthReason = reason;
      if (to === "down") p.rttMs = NaN;
      const ev = { peer: p.publicKey, from, to, at: Date.now(), reason, rttMs: null, loss: 1 };
      if (announce) { for (const fn of listeners) fn(ev); }
    },
  };
}

function serve(app: Hono): { url: string; server: Deno.HttpServer } {
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, app.fetch);
  return { url: `http://127.0.0.1:${(server.addr as Deno.NetAddr).port}/`, server };
}

/**
 * The bits of the DOM the in-page checks use: they run inside the page and reach `document`
 * through `globalThis`, as this file is typed without the DOM lib. (They stay functions: the
 * page's CSP forbids evaluating strings.)
 */
interface Doc {
  querySelectorAll(selector: string): { length: number };
  querySelector(selector: string): { textContent: string | null } | null;
}

const linkHealth = (page: Page, peer: string) =>
  page.getAttribute(`#graph .link[data-peer="${peer}"]`, "data-health");

/**
 * How long a wait for something the page must do may take before the test calls it a hang. Only
 * a guard: the checks are about what the page shows and why, never about how fast.
 */
const GUARD_MS = 30_000;

/** Waits until `peer`'s link shows `health`. */
const linkBecomes = (page: Page, peer: string, health: string) =>
  page.waitForSelector(`#graph .link[data-peer="${peer}"][data-health="${health}"]`, {
    timeout: GUARD_MS,
  });

/** The "↓ rx  ↑ tx" rates of a link label, in bytes per second. */
function rates(label: string): { rx: number; tx: number } {
  const unit: Record<string, number> = { B: 1, KiB: 1024, MiB: 1 << 20 };
  const m = /↓ ([\d.]+) (B|KiB|MiB)\/s\s+↑ ([\d.]+) (B|KiB|MiB)\/s/.exec(label);
  assert.ok(m, `no rates in "${label}"`);
  return { rx: Number(m[1]) * unit[m[2]], tx: Number(m[3]) * unit[m[4]] };
}

/** Collects console errors, page errors and failed requests of a page. */
function watch(page: Page, problems: string[]): void {
  page.on("console", (m) => {
    if (m.type() === "error" || m.type() === "warning") problems.push(`console: ${m.text()}`);
  });
  page.on("pageerror", (e) => problems.push(`page error: ${e.message}`));
  page.on("requestfailed", (r) => {
    // The event stream is cut when the page goes away; anything else failing is a fault.
    if (!r.url().endsWith("/events")) problems.push(`request failed: ${r.url()}`);
  });
}

Deno.test({
  name: "dashboard in headless chromium: three nodes, live health, table view, polling fallback",
  ignore: !hasChromium,
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const mesh = fakeMesh();
    const ac = new AbortController();
    const app = new Hono();
    app.get("/status", (c) => c.json(mesh.status()));
    app.route("/", dashboardRoutes(mesh.status, mesh.subscribe, { signal: ac.signal }));
    // The same, but its periodic update never comes during the test (an hour): a change a page
    // of this server shows can only have been pushed by the change's own event.
    const pushApp = new Hono();
    pushApp.get("/status", (c) => c.json(mesh.status()));
    pushApp.route(
      "/",
      dashboardRoutes(mesh.status, mesh.subscribe, { signal: ac.signal, intervalMs: 3_600_000 }),
    );
    // A third server without /events: the page must fall back to polling /status.
    const pollApp = new Hono();
    let statusReads = 0;
    pollApp.get("/status", (c) => (statusReads++, c.json(mesh.status())));
    pollApp.get("/events", (c) => c.json({ error: "no events here" }, 404));
    pollApp.route("/", dashboardRoutes(mesh.status, mesh.subscribe, { signal: ac.signal }));
    const live = serve(app);
    const pushed = serve(pushApp);
    const polled = serve(pollApp);

    const shots = Deno.env.get("WEFT_SCREENSHOTS") ??
      await Deno.makeTempDir({ prefix: "weft-dashboard-shots-" });
    const profile = await Deno.makeTempDir({ prefix: "weft-chromium-profile-" });
    const context = await chromium.launchPersistentContext(profile, {
      executablePath: CHROMIUM,
      headless: true,
      args: [...CHROMIUM_ARGS],
      viewport: { width: 1280, height: 900 },
    });
    try {
      const page = await context.newPage();
      const problems: string[] = [];
      watch(page, problems);
      const offsite: string[] = [];
      page.on("request", (r) => {
        if (!r.url().startsWith(live.url) && !r.url().startsWith("data:")) offsite.push(r.url());
      });

      await page.goto(live.url);
      await page.waitForFunction(
        (sel) =>
          (globalThis as unknown as { document: Doc }).document.querySelectorAll(sel).length === 3,
        "#graph .node",
      );
      const nodes = await page.$$eval(
        "#graph .node",
        (els) => els.map((e) => e.getAttribute("data-node")),
      );
      assert.deepEqual(nodes, ["alpha", "bravo", "charlie"]);
      // A status without a services field (no mesh agent): no Services panel.
      assert.equal(await page.isHidden("#services"), true);
      const links = await page.$$eval(
        "#graph .link",
        (els) => els.map((e) => `${e.getAttribute("data-peer")}:${e.getAttribute("data-health")}`),
      );
      assert.deepEqual(links, ["bravo:up", "charlie:up"]);
      const text = await page.textContent("#graph");
      for (const s of ["alpha", "bravo", "charlie", "10.9.0.1/24", "10.9.0.2", "10.9.0.3"]) {
        assert.ok(text!.includes(s), `graph shows ${s}`);
      }
      assert.equal(await page.textContent("#conn"), "live", "server-sent events are in use");
      // Throughput needs two updates; the stream sends one every 2 s.
      await page.waitForFunction(
        (sel) =>
          /KiB\/s/.test(
            (globalThis as unknown as { document: Doc }).document.querySelector(sel)?.textContent ??
              "",
          ),
        '#graph .link[data-peer="bravo"] text.sub',
        { timeout: GUARD_MS },
      );
      // Both links' labels read in one evaluation inside the page: two reads could straddle an
      // update and compare rates of two different pairs of updates (a busy machine did).
      const labels = new Map(
        await page.$$eval(
          "#graph .link",
          (els) =>
            els.map((e) =>
              [
                e.getAttribute("data-peer") ?? "",
                Array.from(
                  e.querySelectorAll("text"),
                  (t) => (t as { textContent: string | null }).textContent ?? "",
                ),
              ] as [string, string[]]
            ),
        ),
      );
      const bravoInfo = labels.get("bravo") ?? [];
      assert.match(bravoInfo[0], /0\.84 ms/);
      // Rates are byte deltas over the page's own clock, so their size depends on how promptly
      // updates arrive; their proportions do not. The source moves bravo at 50 KiB/s down and
      // 20 up, charlie at 4 down: the page must show 5:2 and 25:2, from one pair of updates.
      const bravo = rates(bravoInfo[1]);
      const charlie = rates((labels.get("charlie") ?? [])[1] ?? "");
      const near = (x: number, want: number) => Math.abs(x / want - 1) < 0.03;
      assert.ok(near(bravo.rx / bravo.tx, 2.5), `bravo ${bravoInfo[1]}: rx/tx should be 2.5`);
      assert.ok(
        near(bravo.rx / charlie.rx, 12.5),
        `bravo rx ${bravo.rx}, charlie rx ${charlie.rx}`,
      );
      // A gross unit error (bytes for KiB, ms for s) is off by 1000.
      assert.ok(bravo.rx > 5 * KiB && bravo.rx < 500 * KiB, `bravo rx ${bravoInfo[1]}`);
      await page.screenshot({ path: `${shots}/1-graph-up.png` });

      // A second page, on the server without periodic updates.
      const push = await context.newPage();
      watch(push, problems);
      await push.goto(pushed.url);
      await push.waitForFunction(
        (sel) =>
          (globalThis as unknown as { document: Doc }).document.querySelectorAll(sel).length === 2,
        '#graph .link[data-health="up"]',
        { timeout: GUARD_MS },
      );
      assert.equal(await push.textContent("#conn"), "live");

      // charlie stops and the source announces it: the change's own event brings the new status
      // to both pages (on the push-only server nothing else could).
      mesh.setHealth("charlie", "down", "3 probes lost in a row", true);
      await linkBecomes(push, "charlie", "down");
      await linkBecomes(page, "charlie", "down");
      for (const p of [push, page]) {
        assert.equal(await linkHealth(p, "bravo"), "up");
        assert.match((await p.textContent("#events"))!, /charlie\s+up → down\s+\(3 probes lost/);
        assert.match((await p.textContent("#summary"))!, /1 up.*1 down/);
      }
      // bravo degrades without an event: the periodic update carries it to the live page...
      mesh.setHealth("bravo", "degraded", "loss 30% > 20%", false);
      await linkBecomes(page, "bravo", "degraded");
      await page.screenshot({ path: `${shots}/2-graph-down.png` });
      // ...and nothing carries it to the push-only page, whose earlier update was the push.
      assert.equal(await linkHealth(push, "bravo"), "up");
      await push.close();

      // The table view shows the same, and the choice survives a reload.
      await page.click("#show-table");
      assert.equal(await page.isVisible("#graph"), false);
      const rows = await page.$$eval(
        "#peers tbody tr",
        (els) => els.map((e) => `${e.getAttribute("data-peer")}:${e.getAttribute("data-health")}`),
      );
      assert.deepEqual(rows, ["bravo:degraded", "charlie:down"]);
      const charlieRow = await page.textContent('#peers tr[data-peer="charlie"]');
      assert.match(charlieRow!, /198\.51\.100\.7:51820/);
      await page.screenshot({ path: `${shots}/3-table.png`, fullPage: true });
      await page.reload();
      await page.waitForSelector("#peers tbody tr");
      assert.equal(await page.isVisible("#peers"), true, "table view remembered");
      await page.click("#show-graph");

      assert.deepEqual(problems, [], "no console errors or failed requests");
      assert.deepEqual(offsite, [], "nothing fetched from anywhere else");
      await page.close();

      // Fallback: no event stream, so the page polls /status every 2 s.
      mesh.setHealth("charlie", "up", "probes answered", false);
      const poll = await context.newPage();
      const pageErrors: string[] = [];
      poll.on("pageerror", (e) => pageErrors.push(e.message));
      await poll.goto(polled.url);
      await poll.waitForFunction(
        (sel) =>
          (globalThis as unknown as { document: Doc }).document.querySelectorAll(sel).length === 2,
        "#graph .link",
      );
      await poll.waitForFunction(
        (sel) =>
          (globalThis as unknown as { document: Doc }).document.querySelector(sel)?.textContent ===
            "polling",
        "#conn",
      );
      assert.equal(await linkHealth(poll, "charlie"), "up");
      const readsBefore = statusReads;
      mesh.setHealth("charlie", "down", "no handshake for 181 s", false);
      await linkBecomes(poll, "charlie", "down");
      assert.ok(statusReads > readsBefore, "a later poll of /status brought the change");
      await poll.screenshot({ path: `${shots}/4-polling.png` });
      assert.deepEqual(pageErrors, []);
      console.log(`dashboard screenshots: ${shots}`);
    } finally {
      await context.close();
      ac.abort();
      await live.server.shutdown();
      await pushed.server.shutdown();
      await polled.server.shutdown();
      await Deno.remove(profile, { recursive: true }).catch(() => {});
    }
  },
});

Deno.test({
  name: "dashboard through a remote listener: opened with ?token=, its own requests carry it",
  ignore: !hasChromium,
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const { Agent } = await import("../../lib/agent/agent.ts");
    const { serveControl } = await import("../../lib/control/server.ts");
    const { generateKeyPair } = await import("../../lib/crypto/keys.ts");
    const { nullLogger } = await import("../../lib/log/logger.ts");
    const token = "remote-dashboard-token";
    const agent = await Agent.start({
      privateKey: generateKeyPair().privateKey,
      addresses: ["10.96.0.1/24"],
      listenPort: 0,
      logger: nullLogger,
      identity: { name: "remote-alpha", role: "leader" },
    });
    // Every route needs the token on a remote listener; the browser reaches it on loopback.
    const server = serveControl(agent, { listen: "0.0.0.0:0", allowRemote: true, token });
    const url = `http://127.0.0.1:${server.address.split(":").pop()}/?token=${token}`;
    const profile = await Deno.makeTempDir({ prefix: "weft-chromium-profile-" });
    const context = await chromium.launchPersistentContext(profile, {
      executablePath: CHROMIUM,
      headless: true,
      args: ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run"],
    });
    try {
      const page = await context.newPage();
      const refused: string[] = [];
      page.on("response", (r) => {
        if (r.status() === 401) refused.push(r.url());
      });
      await page.goto(url);
      // Live means the event stream was let in; the name comes from the status it carried.
      await page.waitForFunction(
        (sel) =>
          (globalThis as unknown as { document: Doc }).document.querySelector(sel)?.textContent ===
            "live",
        "#conn",
        { timeout: GUARD_MS },
      );
      await page.waitForFunction(
        (sel) =>
          (globalThis as unknown as { document: Doc }).document.querySelector(sel)?.textContent ===
            "remote-alpha",
        "#node-name",
        { timeout: GUARD_MS },
      );
      assert.deepEqual(refused, []);
      await page.close();
    } finally {
      await context.close();
      await server.close();
      await agent.close();
      await Deno.remove(profile, { recursive: true }).catch(() => {});
    }
  },
});

/** A status document with one peer of each path kind: direct, relayed, over TCP, none. */
function pathsStatus(): DashboardStatus {
  const peer = (name: string, n: number, extra: Record<string, unknown>) => ({
    publicKey: `${name}-key-${"x".repeat(36)}=`,
    name,
    address: `10.9.0.${n}`,
    endpoint: `192.0.2.${n}:51820`,
    health: "up" as HealthState,
    healthReason: "probes answered",
    rttMs: 10 + n,
    loss: 0,
    rxBytes: 0,
    txBytes: 0,
    lastHandshakeAgeSeconds: 5,
    candidates: [],
    ...extra,
  });
  return {
    node: { publicKey: "IRb4IavWBd1m3KDnPqLC1MUyHxBNYQRb9q0hImPBzmQ=", name: "alpha" },
    peers: [
      peer("bravo", 2, {
        path: "direct",
        via: null,
        transport: "udp",
        candidates: [{ endpoint: "192.0.2.2:51820", kind: "lan", chosen: true }],
      }),
      peer("charlie", 3, { path: "direct", via: null, transport: "tcp" }),
      peer("delta", 4, { path: "relay", via: "bravo", transport: "udp" }),
      peer("echo", 5, { path: "relay", via: "Zm9vYmFy", transport: "tcp" }),
      peer("foxtrot", 6, { path: "none", via: null, transport: null, rttMs: null }),
    ],
  };
}

Deno.test({
  name: "dashboard in headless chromium: relayed links dotted and labelled, TCP tagged, legend",
  ignore: !hasChromium,
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const ac = new AbortController();
    const app = new Hono();
    app.get("/status", (c) => c.json(pathsStatus()));
    app.route("/", dashboardRoutes(pathsStatus, undefined, { signal: ac.signal }));
    const live = serve(app);
    const shots = Deno.env.get("WEFT_SCREENSHOTS") ??
      await Deno.makeTempDir({ prefix: "weft-dashboard-shots-" });
    const profile = await Deno.makeTempDir({ prefix: "weft-chromium-profile-" });
    const context = await chromium.launchPersistentContext(profile, {
      executablePath: CHROMIUM,
      headless: true,
      args: ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run"],
      viewport: { width: 1280, height: 900 },
    });
    try {
      const page = await context.newPage();
      const problems: string[] = [];
      watch(page, problems);
      await page.goto(live.url);
      await page.waitForFunction(
        (sel) =>
          (globalThis as unknown as { document: Doc }).document.querySelectorAll(sel).length === 5,
        "#graph .link",
        { timeout: GUARD_MS },
      );
      const links = await page.$$eval("#graph .link", (els) =>
        els.map((e) =>
          [
            e.getAttribute("data-peer"),
            e.getAttribute("data-path"),
            e.getAttribute("data-via"),
            e.getAttribute("data-transport"),
          ].join(":")
        ));
      assert.deepEqual(links, [
        "bravo:direct::udp",
        "charlie:direct::tcp",
        "delta:relay:bravo:udp",
        "echo:relay:Zm9vYmFy:tcp",
        "foxtrot:none::",
      ]);
      // Each kind of path is drawn its own way: solid, dotted (relay), dashed (none). A line
      // has no computed style until the page is styled and laid out (a CI run at load 17 read
      // '' for a direct link): wait for every line to have one.
      await page.waitForFunction(
        (sel) =>
          Array.from(
            (globalThis as unknown as { document: Doc }).document.querySelectorAll(
              sel,
            ) as unknown as ArrayLike<unknown>,
          ).every((e) =>
            (globalThis as unknown as {
              getComputedStyle(x: unknown): { strokeDasharray: string };
            }).getComputedStyle(e).strokeDasharray !== ""
          ),
        "#graph .link line",
        { timeout: GUARD_MS },
      );
      const dashes = Object.fromEntries(
        await page.$$eval("#graph .link", (els) =>
          els.map((e) => [
            e.getAttribute("data-peer"),
            (globalThis as unknown as {
              getComputedStyle(x: unknown): { strokeDasharray: string };
            }).getComputedStyle(e.querySelector("line")).strokeDasharray,
          ])),
      );
      assert.equal(dashes.bravo, "none", "a direct link is solid");
      assert.equal(dashes.charlie, "none", "TCP does not change the line, its tag says it");
      assert.notEqual(dashes.delta, "none", "a relayed link is not solid");
      assert.equal(dashes.echo, dashes.delta);
      assert.notEqual(dashes.foxtrot, "none");
      assert.notEqual(dashes.foxtrot, dashes.delta, "relayed and pathless links differ");
      // The labels: the relay's name beside the RTT, "tcp" where TCP carries the packets.
      const info = async (peer: string) =>
        (await page.textContent(`#graph .link[data-peer="${peer}"] text.linkinfo`)) ?? "";
      assert.equal(await info("bravo"), "12.0 ms");
      assert.equal(await info("charlie"), "13.0 ms · tcp");
      assert.equal(await info("delta"), "14.0 ms · via bravo");
      assert.equal(await info("echo"), "15.0 ms · via Zm9vYmFy · tcp");
      assert.equal(await info("foxtrot"), "no path");
      const tip = await page.textContent('#graph .link[data-peer="echo"] > title');
      assert.match(tip!, /path relay, via Zm9vYmFy, over tcp/);
      const nodeTip = await page.textContent('#graph .node[data-node="delta"] > title');
      assert.match(nodeTip!, /path relay, via bravo, over udp/);
      const legend = (await page.textContent("#graph-view .legend"))!;
      for (const s of ["no path", "relayed (via …)", "tcpover TCP"]) {
        assert.ok(legend.includes(s), `legend has "${s}": ${legend}`);
      }
      await page.screenshot({ path: `${shots}/5-paths-graph.png` });

      // The table: the path with its relay, and the transport.
      await page.click("#show-table");
      const rows = await page.$$eval("#peers tbody tr", (els) =>
        els.map((tr) => {
          const td = tr.querySelectorAll("td");
          return `${tr.getAttribute("data-peer")}|${td[3].textContent}|${td[4].textContent}`;
        }));
      assert.deepEqual(rows, [
        "bravo|direct|udp",
        "charlie|direct|tcp",
        "delta|relay via bravo|udp",
        "echo|relay via Zm9vYmFy|tcp",
        "foxtrot|no path|–",
      ]);
      await page.screenshot({ path: `${shots}/6-paths-table.png`, fullPage: true });
      // Back to the graph, so a later test in this profile starts there.
      await page.click("#show-graph");
      assert.deepEqual(problems, [], "no console errors or failed requests");
      console.log(`dashboard screenshots: ${shots}`);
    } finally {
      await context.close();
      ac.abort();
      await live.server.shutdown();
      await Deno.remove(profile, { recursive: true }).catch(() => {});
    }
  },
});
