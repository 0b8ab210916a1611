/**
 * Issue 49's Chromium proof: a web page joins the mesh and uses it. A leader and a member `tun`
 * (both TUN mode, real `weft` processes) each in a namespace of its own; `tun` offers `echo` (an
 * HTTP backend in its namespace). In a third namespace `web`, the example page
 * (examples/browser/index.html with the bundle `deno task browser` builds, served by
 * examples/browser/serve.ts) is opened in headless Chromium; through the page's own controls it
 * joins with a token over the leader's WebSocket, calls `echo` (answered by `tun`, reached through
 * the leader as a relay: the page has nothing but its socket), subscribes to `news/*`, and shows
 * the event `tun` publishes (`weft publish`).
 *
 * The WebSocket is the leader's own, on its TCP transport's port (drivers/tcp_ws.ts), and the
 * leader's `weft status --json` says the page's path is carried over `websocket`. The relay the
 * issue's proof names is the leader here, not another granted relay: a page's one socket carries
 * both its join (answered by the leader alone) and all its traffic, and the browser node takes
 * relay grants from the leader only (lib/browser/relay_routes.ts), so a page cannot use another
 * relay's WebSocket today.
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { canBuildLabs, eventually, Lab } from "../fixtures/netns.ts";
import { type LabProc, nodeList, startMeshNode, waitUp, weftIn } from "../fixtures/mesh_lab.ts";
import { browserIn, hasChromium, type NsBrowser } from "../fixtures/chromium_ns.ts";
import { denoIn, startEchoBackend } from "../fixtures/services_lab.ts";
import { buildBrowser, platformReferences } from "../../scripts/build_browser.ts";

const ignore = !hasChromium() || !(await canBuildLabs());

/** A hang guard for each awaited event (a start, a join, an answer), generous for a busy box. */
const GUARD_MS = 120_000;
const ROOT = new URL("../..", import.meta.url).pathname;
const SERVE = new URL("../../examples/browser/serve.ts", import.meta.url).pathname;
/** The WebSocket the page joins through: the leader's TCP transport's port, which serves it. */
function wsUrl(leaderIp: string): string {
  return `ws://${leaderIp}:51820`;
}

Deno.test({
  name: "a page in Chromium joins over the leader's WebSocket, calls a TUN node, gets its event",
  ignore,
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const lab = await Lab.create(["lead", "tun", "web"]);
    const dir = await Deno.makeTempDir({ prefix: "weft-browser-chromium-" });
    const opts = { dir, cidr: "10.94.0.0/24", ifPrefix: "wb", extra: ["--dns-port", "0"] };
    const procs: LabProc[] = [];
    let browser: NsBrowser | undefined;
    try {
      const bundle = join(dir, "weft.browser.js");
      assert.deepEqual(platformReferences(await buildBrowser(ROOT, bundle)), []);
      const leadIp = lab.host("lead").ip;
      const leader = startMeshNode(lab, opts, "lead", [
        "--leader",
        "--advertise",
        `${leadIp}:51820`,
      ]);
      procs.push(leader);
      await waitUp(lab, "lead", dir, leader);
      const tok = await weftIn(lab, "lead", dir, "token", "create", "--uses", "2", "--ttl", "1h");
      assert.equal(tok.code, 0, tok.stderr);
      const token = tok.stdout.trim();
      procs.push(await startEchoBackend(lab, "tun", 8080));
      const tun = startMeshNode(lab, opts, "tun", [
        "--join",
        token,
        "--service",
        "echo:8080/tcp",
        "--service-http",
        "echo=http://127.0.0.1:8080",
      ]);
      procs.push(tun);
      await waitUp(lab, "tun", dir, tun);

      // The page and the bundle, served in the page's namespace.
      const web = denoIn(lab, "web", SERVE, "--port", "8080", "--bundle", bundle);
      procs.push(web);
      const up = await eventually(
        () => Promise.resolve(web.output().includes("serving")),
        GUARD_MS,
      );
      assert.ok(up, `page: ${web.output()}`);

      browser = await browserIn(lab.host("web").ns);
      const page = await browser.context.newPage();
      const problems: string[] = [];
      page.on("pageerror", (e) => problems.push(`page error: ${e.message}`));
      page.on("console", (m) => {
        if (m.type() === "error") problems.push(`console: ${m.text()}`);
      });
      await page.goto("http://127.0.0.1:8080/");
      const log = () => page.locator("#log").innerText();

      // Join, as a user would: the token, the WebSocket, a name, the button.
      await page.fill("#token", token);
      await page.fill("#url", wsUrl(leadIp));
      await page.fill("#name", "page");
      await page.click("#join");
      await page.waitForFunction(
        () =>
          /^joined as page/.test(
            (globalThis as unknown as {
              document: { getElementById(id: string): { textContent: string | null } };
            }).document.getElementById("state").textContent ?? "",
          ),
        undefined,
        { timeout: GUARD_MS, polling: 200 },
      ).catch(async (e) => {
        throw new Error(`${e}\nstate: ${await page.locator("#state").innerText()}\n${problems}`);
      });
      // The leader lists the page as a member.
      assert.ok(
        await eventually(
          async () => (await nodeList(lab, "lead", dir))?.some((m) => m.name === "page") ?? false,
          GUARD_MS,
        ),
        "the leader lists the page",
      );

      // Call echo (on tun only) until the page has learnt of it and answers come.
      await page.fill("#call-path", "echo/say");
      await page.fill("#call-params", '{"n": 7}');
      const answered = await eventually(
        async () => {
          await page.click("#call");
          await page.waitForFunction(
            () =>
              ((globalThis as unknown as {
                document: { getElementById(id: string): { textContent: string | null } };
              }).document.getElementById("answer").textContent ?? "") !== "",
            undefined,
            { timeout: GUARD_MS, polling: 100 },
          );
          const text = await page.locator("#answer").innerText();
          if (text.startsWith("error")) {
            await page.evaluate(() =>
              (globalThis as unknown as {
                document: { getElementById(id: string): { textContent: string | null } };
              }).document.getElementById("answer").textContent = ""
            );
            return false;
          }
          return true;
        },
        GUARD_MS,
        500,
      );
      assert.ok(answered, `no answer from echo:\n${await log()}\n${problems}`);
      assert.deepEqual(JSON.parse(await page.locator("#answer").innerText()), {
        node: "tun",
        action: "say",
        params: { n: 7 },
      });

      // The leader's status: the page is reached directly, over its WebSocket, no proxy.
      const st = await weftIn(lab, "lead", dir, "status", "--json");
      assert.equal(st.code, 0, st.stderr);
      const pagePeer = JSON.parse(st.stdout).peers.find((p: { name: string }) => p.name === "page");
      assert.equal(pagePeer?.path, "direct", JSON.stringify(pagePeer));
      assert.equal(pagePeer?.transport, "websocket", JSON.stringify(pagePeer));
      assert.equal(pagePeer?.proxied, undefined, JSON.stringify(pagePeer));

      // Subscribe on the page; tun publishes until the page shows the event.
      await page.fill("#pattern", "news/*");
      await page.click("#subscribe");
      assert.ok(
        await eventually(async () => (await log()).includes("subscribed to news/*"), GUARD_MS),
      );
      const heard = await eventually(
        async () => {
          const r = await weftIn(lab, "tun", dir, "publish", "news/tun", '{"hello": "page"}');
          assert.equal(r.code, 0, r.stderr);
          return (await log()).includes('event news/tun {"hello":"page"} from tun');
        },
        GUARD_MS,
        500,
      );
      assert.ok(heard, `the page did not show tun's event:\n${await log()}\n${problems}`);
      assert.deepEqual(problems, []);

      // Leaving says bye: the leader marks the page offline.
      await page.click("#leave");
      assert.ok(
        await eventually(async () =>
          (await log()).length > 0 &&
          (await page.locator("#state").innerText()) === "left", GUARD_MS),
      );
    } finally {
      await browser?.close();
      for (const p of procs.reverse()) await lab.stop(p.child, 5000).catch(() => {});
      await lab.destroy();
      await Deno.remove(dir, { recursive: true }).catch(() => {});
    }
  },
});
