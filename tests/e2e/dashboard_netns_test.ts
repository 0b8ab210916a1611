/**
 * The leader's dashboard draws the whole mesh: a leader and three joiners run as `weft` processes
 * (userspace mode), each in its own network namespace on a shared bridge (underlay
 * 192.0.2.0/24), and Chromium, started inside the leader's namespace, opens the leader's page.
 * Every link of the full mesh (6 for 4 nodes) is drawn up, each side's view from that side's
 * link report. Then one joiner is killed (SIGKILL: it says nothing on its way out) and each of
 * its links must turn red on every side: its own report goes stale, and the others' probes to it
 * go unanswered. Screenshots land in `$WEFT_SCREENSHOTS` or a kept temp dir (the path is printed).
 */

import assert from "node:assert/strict";
import { canBuildLabs, eventually, Lab } from "../fixtures/netns.ts";
import { type LabProc, startMeshNode, waitUp, weftIn } from "../fixtures/mesh_lab.ts";
import { browserIn, hasChromium, type NsBrowser } from "../fixtures/chromium_ns.ts";

const ignore = !hasChromium() || !(await canBuildLabs());

/**
 * How long a wait for an event (a start, a report, the page) may take before the test calls it
 * a hang: only a guard, generous for a loaded machine (a killed node's report is stale after
 * 15 s and its probes lost after 3 at 5 s on an idle one).
 */
const GUARD_MS = 120_000;

const HOSTS = ["lead", "n1", "n2", "n3"];

/** The DOM bits the in-page checks touch (this file is typed without the DOM lib). */
interface Doc {
  querySelector(
    selector: string,
  ): { getAttribute(n: string): string | null; textContent: string | null } | null;
  querySelectorAll(selector: string): {
    length: number;
    forEach(fn: (e: { getAttribute(n: string): string | null }) => void): void;
  };
}

/** A drawn link as the checks read it from its data attributes. */
interface DrawnLink {
  link: string;
  state: string;
  a: string;
  b: string;
}

Deno.test({
  name: "leader's dashboard of a 4-node mesh in namespaces: 6 links; a killed node's go red",
  ignore,
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const lab = await Lab.create(HOSTS);
    const dir = await Deno.makeTempDir({ prefix: "weft-dashns-" });
    const shots = Deno.env.get("WEFT_SCREENSHOTS") ??
      await Deno.makeTempDir({ prefix: "weft-dashboard-netns-shots-" });
    const running = new Map<string, LabProc>();
    let browser: NsBrowser | undefined;
    const opts = {
      dir,
      cidr: "10.93.0.0/24",
      ifPrefix: "wd",
      extra: ["--userspace", "--dns-port", "0"],
    };
    try {
      const leader = startMeshNode(lab, opts, "lead", [
        "--leader",
        "--advertise",
        `${lab.host("lead").ip}:51820`,
      ]);
      running.set("lead", leader);
      await waitUp(lab, "lead", dir, leader);
      const tok = await weftIn(lab, "lead", dir, "token", "create", "--uses", "3", "--ttl", "1h");
      assert.equal(tok.code, 0, tok.stderr);
      const token = tok.stdout.trim();
      for (const h of HOSTS.slice(1)) {
        // Sessions on demand: the joiners keep each other (no traffic between them), so the
        // page has a full mesh of live links to draw.
        const keep = HOSTS.slice(1).filter((o) => o !== h).flatMap((o) => ["--keep-peer", o]);
        const r = startMeshNode(lab, opts, h, ["--join", token, ...keep]);
        running.set(h, r);
        await waitUp(lab, h, dir, r);
      }

      // The browser runs in the leader's namespace, where its status server listens on loopback.
      browser = await browserIn(lab.host("lead").ns);
      const page = await browser.context.newPage();
      const problems: string[] = [];
      page.on("console", (m) => {
        if (m.type() === "error" || m.type() === "warning") problems.push(`console: ${m.text()}`);
      });
      page.on("pageerror", (e) => problems.push(`page error: ${e.message}`));
      await page.goto("http://127.0.0.1:51880/");

      const drawn = () =>
        page.$$eval("#graph .link", (els) =>
          els.map((e) => ({
            link: e.getAttribute("data-link") ?? "",
            state: e.getAttribute("data-state") ?? "",
            a: e.getAttribute("data-a-state") ?? "",
            b: e.getAttribute("data-b-state") ?? "",
          }))) as Promise<DrawnLink[]>;
      // Every link up as both of its sides report it: each node's report reached the leader.
      await page.waitForFunction(
        () => {
          const links = (globalThis as unknown as { document: Doc }).document.querySelectorAll(
            '#graph .link[data-state="up"][data-a-state="up"][data-b-state="up"]',
          );
          return links.length === 6;
        },
        undefined,
        { timeout: GUARD_MS, polling: 500 },
      );
      const names = [...HOSTS].sort();
      const pairs = names.flatMap((a, i) => names.slice(i + 1).map((b) => `${a}|${b}`));
      assert.deepEqual((await drawn()).map((l) => l.link).sort(), pairs, "the full mesh");
      assert.ok(pairs.includes("n2|n3"), "a link between two joiners, which the leader has not");
      const nodes = await page.$$eval(
        "#graph .node",
        (els) => els.map((e) => e.getAttribute("data-node")),
      );
      assert.deepEqual(nodes, ["lead", "n1", "n2", "n3"], "this node first, then the others");
      // The joiners' links have RTTs on them, measured by the joiners (a link can be up, from
      // its handshake, before its first probe has come back).
      await page.waitForFunction(
        () =>
          /\d ms/.test(
            (globalThis as unknown as { document: Doc }).document.querySelector(
              '#graph .link[data-link="n2|n3"] text.linkinfo',
            )?.textContent ?? "",
          ),
        undefined,
        { timeout: GUARD_MS, polling: 500 },
      );
      // The same view from the HTTP API, with both sides' views of every link. The page showed
      // one side's RTT; the other side's first probe may still be on its way: waited for.
      type Link = { a: string; b: string; aView: { path: string }; bView: { rttMs: unknown } };
      let api: { mesh: { links: Link[] } } = { mesh: { links: [] } };
      const both = await eventually(async () => {
        const r = await lab.exec(
          "lead",
          "curl",
          "-sf",
          "--max-time",
          "5",
          "http://127.0.0.1:51880/status",
        );
        if (r.code !== 0) return false;
        api = JSON.parse(r.stdout);
        const l = api.mesh.links.find((l) => l.a === "n2" && l.b === "n3");
        return typeof l?.bView.rttMs === "number";
      }, GUARD_MS);
      assert.ok(both, "both sides of n2|n3 report an RTT");
      assert.equal(api.mesh.links.length, 6);
      const n2n3 = api.mesh.links.find((l) => l.a === "n2" && l.b === "n3")!;
      assert.equal(n2n3.aView.path, "direct");
      await page.screenshot({ path: `${shots}/1-full-mesh.png` });

      // Clicking n2 shows its peers, as its own report says.
      await page.click('#graph .node[data-node="n2"]');
      await page.waitForSelector('#node-detail[data-node="n2"]:not([hidden])', {
        timeout: GUARD_MS,
      });
      const detail = await page.$$eval(
        "#detail-peers tbody tr",
        (els) => els.map((e) => `${e.getAttribute("data-peer")}:${e.getAttribute("data-state")}`),
      );
      assert.deepEqual(detail, ["lead:up", "n1:up", "n3:up"]);
      await page.screenshot({ path: `${shots}/2-node-detail.png`, fullPage: true });

      // n3 is killed: every link of it goes red, and on every side: its own view is stale (it
      // stopped reporting), the other side's is down (its probes go unanswered).
      const killed = running.get("n3")!;
      killed.child.kill("SIGKILL");
      await killed.child.status;
      const t0 = Date.now();
      await page.waitForFunction(
        () => {
          const links = (globalThis as unknown as { document: Doc }).document.querySelectorAll(
            '#graph .link[data-link$="|n3"]',
          );
          let red = 0;
          links.forEach((e) => {
            if (
              e.getAttribute("data-state") === "down" &&
              e.getAttribute("data-b-state") === "stale" &&
              e.getAttribute("data-a-state") === "down"
            ) red++;
          });
          return links.length === 3 && red === 3;
        },
        undefined,
        { timeout: GUARD_MS, polling: 500 },
      );
      console.log(`n3's links red on every side ${Date.now() - t0} ms after SIGKILL`);
      const after = await drawn();
      for (const l of after) {
        if (l.link.endsWith("|n3")) {
          assert.deepEqual([l.state, l.a, l.b], ["down", "down", "stale"], l.link);
        } else assert.equal(l.state, "up", `${l.link} stays up`);
      }
      assert.equal(
        await page.getAttribute('#graph .node[data-node="n3"]', "data-stale"),
        "true",
      );
      // The panel for n2 now has n3 down in n2's own report.
      assert.equal(
        await page.getAttribute('#detail-peers tr[data-peer="n3"]', "data-state"),
        "down",
      );
      await page.screenshot({ path: `${shots}/3-node-killed.png`, fullPage: true });

      // n2 stops on purpose (SIGTERM): it says bye, the leader marks it offline, and its links
      // are red on the page at once, without waiting for its report to go stale.
      const leaving = running.get("n2")!;
      leaving.child.kill("SIGTERM");
      assert.equal((await leaving.child.status).code, 0, leaving.output().slice(-2000));
      await page.waitForFunction(
        () => {
          const doc = (globalThis as unknown as { document: Doc }).document;
          const node = doc.querySelector('#graph .node[data-node="n2"]');
          const links = doc.querySelectorAll('#graph .link[data-link*="n2"]');
          let red = 0;
          links.forEach((e) => {
            if (e.getAttribute("data-state") === "down") red++;
          });
          return node?.getAttribute("data-offline") === "true" && links.length === 3 && red === 3;
        },
        undefined,
        { timeout: GUARD_MS, polling: 500 },
      );
      assert.equal(
        (await drawn()).find((l) => l.link === "lead|n1")?.state,
        "up",
        "the others' link stays up",
      );
      await page.screenshot({ path: `${shots}/4-node-left.png`, fullPage: true });
      assert.deepEqual(problems, [], "no console errors");
      await page.close();
      console.log(`dashboard netns screenshots: ${shots}`);
    } catch (e) {
      for (const [h, p] of running) console.error(`--- ${h} log ---\n${p.output().slice(-3000)}`);
      throw e;
    } finally {
      await browser?.close();
      await lab.destroy();
      await Deno.remove(dir, { recursive: true }).catch(() => {});
    }
  },
});
