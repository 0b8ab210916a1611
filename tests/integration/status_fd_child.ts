/**
 * A status server with no connection cap of its own left to save it (the cap is set far above
 * the descriptor limit the test runs this under), so that accepts really fail with EMFILE. Prints
 * its address on stdout; logs go to stderr.
 */
import { Agent } from "../../lib/agent/agent.ts";
import { serveControl } from "../../lib/control/server.ts";
import { generateKeyPair } from "../../lib/crypto/keys.ts";

const agent = await Agent.start({
  privateKey: generateKeyPair().privateKey,
  addresses: ["10.98.0.1/24"],
  listenPort: 0,
});
const server = serveControl(agent, { listen: "127.0.0.1:0", maxConnections: 100_000 });
console.log(server.address);
// Runs until the test kills it.
setInterval(() => {}, 60_000);
