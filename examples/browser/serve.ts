/**
 * Serves the example page (examples/browser/index.html) and the browser bundle beside it, for a
 * try on one machine or in a lab: `deno task browser` first (it writes dist/weft.browser.js), then
 *
 * ```sh
 * deno run --allow-net --allow-read examples/browser/serve.ts --port 8080
 * ```
 *
 * and open http://127.0.0.1:8080/. `--hostname` (default 127.0.0.1), `--bundle PATH` (default
 * dist/weft.browser.js). Only the two files are served; anything else is a 404. Plain HTTP, for
 * trying it out: a page served over HTTPS (behind a proxy that terminates TLS) may open only
 * `wss://` WebSockets.
 * @module
 */

import { parseArgs } from "node:util";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const { values } = parseArgs({
  args: Deno.args,
  options: {
    port: { type: "string", default: "8080" },
    hostname: { type: "string", default: "127.0.0.1" },
    bundle: { type: "string", default: join(here, "../../dist/weft.browser.js") },
  },
});
const port = Number(values.port);
if (!Number.isInteger(port) || port < 0 || port > 65535) {
  console.error(`--port ${values.port} is not a port number`);
  Deno.exit(2);
}
const bundlePath = resolve(values.bundle);
let bundle: Uint8Array<ArrayBuffer>;
try {
  bundle = await Deno.readFile(bundlePath);
} catch {
  console.error(`${bundlePath} is missing: build it with \`deno task browser\``);
  Deno.exit(1);
}
const page: Uint8Array<ArrayBuffer> = await Deno.readFile(join(here, "index.html"));

Deno.serve({
  hostname: values.hostname,
  port,
  onListen: (a) => console.log(`serving the example page on http://${a.hostname}:${a.port}/`),
}, (req) => {
  const path = new URL(req.url).pathname;
  if (req.method !== "GET") return new Response(null, { status: 405 });
  if (path === "/" || path === "/index.html") {
    return new Response(page, { headers: { "content-type": "text/html; charset=utf-8" } });
  }
  if (path === "/weft.browser.js") {
    return new Response(bundle, { headers: { "content-type": "text/javascript; charset=utf-8" } });
  }
  return new Response("not found", { status: 404 });
});
