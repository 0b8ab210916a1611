/**
 * An agent's three socket listeners (status HTTP, DNS TCP, UAPI) with no connection cap left to
 * save them (the HTTP cap is set far above the descriptor limit the test runs this under), so that
 * accepts really fail with EMFILE. Prints the HTTP address, DNS port and UAPI path on stdout.
 */
import { Agent } from "../../lib/agent/agent.ts";
import { serveControl } from "../../lib/control/server.ts";
import { generateKeyPair } from "../../lib/crypto/keys.ts";
import { serveDns } from "../../lib/dns/server.ts";

const uapiDir = Deno.args[0];
const agent = await Agent.start({
  privateKey: generateKeyPair().privateKey,
  addresses: ["10.98.0.1/24"],
  listenPort: 0,
  uapi: uapiDir,
});
const dns = await serveDns({
  addresses: ["127.0.0.1"],
  port: 0,
  source: { view: () => ({ network: "10.98.0.0/24", version: 1, members: [] }) },
  logger: agent.logger,
});
agent.listenerStats.dns_tcp = dns.listenerStats;
const server = serveControl(agent, { listen: "127.0.0.1:0", maxConnections: 100_000 });
const sock = [...Deno.readDirSync(uapiDir)].find((e) => e.name.endsWith(".sock"))!.name;
console.log(`${server.address} ${dns.port} ${uapiDir}/${sock}`);
// As `weft up` does at start: its signal handlers are in place before descriptors run out.
Deno.addSignalListener("SIGTERM", () => Deno.exit(0));
// Runs until the test kills it.
setInterval(() => {}, 60_000);
