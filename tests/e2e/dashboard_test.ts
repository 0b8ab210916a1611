/**
 * The dashboard in headless Chromium: served from a fake three-node status source, it must load
 * without console errors, draw the three nodes and their links, show throughput, and mark a peer
 * down within seconds of the source saying so (over SSE, and over the polling fallback).
 * Screenshots land in `$WEFT_SCREENSHOTS` or a kept temp dir (the path is printed).
 */

import assert from "node:assert/strict";
import { chromium, type Page } from "playwright-core";
import { Hono } from "hono";
import { dashboardRoutes, type DashboardStatus } from "../../lib/status/dashboard.ts";
import type { HealthState } from "../../lib/mesh/types.ts";

const CHROMIUM = "/usr/bin/chromium";
const hasChromium = (() => {
  try {
    return Deno.statSync(CHROMIUM).isFile;
  } catch {
    return false;
  }
})();

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
    // A second server without /events: the page must fall back to polling /status.
    const pollApp = new Hono();
    pollApp.get("/status", (c) => c.json(mesh.status()));
    pollApp.get("/events", (c) => c.json({ error: "no events here" }, 404));
    pollApp.route("/", dashboardRoutes(mesh.status, mesh.subscribe, { signal: ac.signal }));
    const live = serve(app);
    const polled = serve(pollApp);

    const shots = Deno.env.get("WEFT_SCREENSHOTS") ??
      await Deno.makeTempDir({ prefix: "weft-dashboard-shots-" });
    const profile = await Deno.makeTempDir({ prefix: "weft-chromium-profile-" });
    const context = await chromium.launchPersistentContext(profile, {
      executablePath: CHROMIUM,
      headless: true,
      args: [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
      ],
      viewport: { width: 1280, height: 900 },
    });
    try {
      const page = await context.newPage();
      const problems: string[] = [];
      page.on("console", (m) => {
        if (m.type() === "error" || m.type() === "warning") problems.push(`console: ${m.text()}`);
      });
      page.on("pageerror", (e) => problems.push(`page error: ${e.message}`));
      page.on("requestfailed", (r) => {
        // The event stream is cut when the page goes away; anything else failing is a fault.
        if (!r.url().endsWith("/events")) problems.push(`request failed: ${r.url()}`);
      });
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
        { timeout: 8000 },
      );
      const bravoInfo = await page.$$eval(
        '#graph .link[data-peer="bravo"] text',
        (els) => els.map((e) => e.textContent ?? ""),
      );
      assert.match(bravoInfo[0], /0\.84 ms/);
      const rx = Number(/↓ ([\d.]+) KiB\/s/.exec(bravoInfo[1])?.[1]);
      assert.ok(rx > 35 && rx < 65, `bravo rx ${bravoInfo[1]} ~ 50 KiB/s`);
      await page.screenshot({ path: `${shots}/1-graph-up.png` });

      // charlie stops: the change event reaches the page at once.
      const t0 = Date.now();
      mesh.setHealth("charlie", "down", "3 probes lost in a row", true);
      await page.waitForSelector('#graph .link[data-peer="charlie"][data-health="down"]', {
        timeout: 5000,
      });
      const tookMs = Date.now() - t0;
      assert.ok(tookMs < 2000, `marked down after ${tookMs} ms`);
      assert.equal(await linkHealth(page, "bravo"), "up");
      assert.match((await page.textContent("#events"))!, /charlie\s+up → down\s+\(3 probes lost/);
      assert.match((await page.textContent("#summary"))!, /1 up.*1 down/);
      // bravo degrades without an event: the periodic update carries it within 2 s.
      const t1 = Date.now();
      mesh.setHealth("bravo", "degraded", "loss 30% > 20%", false);
      await page.waitForSelector('#graph .link[data-peer="bravo"][data-health="degraded"]', {
        timeout: 5000,
      });
      assert.ok(Date.now() - t1 < 3500, `degraded after ${Date.now() - t1} ms`);
      await page.screenshot({ path: `${shots}/2-graph-down.png` });

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
      const t2 = Date.now();
      mesh.setHealth("charlie", "down", "no handshake for 181 s", false);
      await poll.waitForSelector('#graph .link[data-peer="charlie"][data-health="down"]', {
        timeout: 6000,
      });
      assert.ok(Date.now() - t2 < 4000, `polled page marked down after ${Date.now() - t2} ms`);
      await poll.screenshot({ path: `${shots}/4-polling.png` });
      assert.deepEqual(pageErrors, []);
      console.log(`dashboard screenshots: ${shots}`);
    } finally {
      await context.close();
      ac.abort();
      await live.server.shutdown();
      await polled.server.shutdown();
      await Deno.remove(profile, { recursive: true }).catch(() => {});
    }
  },
});
