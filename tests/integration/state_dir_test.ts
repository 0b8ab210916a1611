/** The state directory holds the private key and the control token: others may not read it. */
import assert from "node:assert/strict";
import { MeshAgent } from "../../lib/mesh/mesh_agent.ts";
import { createLogger } from "../../lib/log/logger.ts";
import { freePort } from "../fixtures/procs.ts";

Deno.test({
  name: "state directory: an existing one with mode 0755 is tightened to 0700 at start, logged",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    const dir = await Deno.makeTempDir({ prefix: "weft-labels-" });
    const lines: string[] = [];
    const lp = freePort();
    const logger = createLogger({ format: "json", sink: (line) => void lines.push(line) });
    try {
      await Deno.mkdir(`${dir}/leader`, { mode: 0o755 });
      await Deno.chmod(`${dir}/leader`, 0o755);
      const leader = await MeshAgent.start({
        role: "leader",
        stateDir: `${dir}/leader`,
        hostname: "leader",
        userspace: true,
        listenPort: lp,
        advertise: [`127.0.0.1:${lp}`],
        dnsPort: 0,
        probes: false,
        logger,
      });
      await leader.close();
      assert.equal((await Deno.stat(`${dir}/leader`)).mode! & 0o777, 0o700);
      assert.ok(lines.some((l) => /tightened to 0700/.test(l) && /0755/.test(l)), lines.join(""));
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});
