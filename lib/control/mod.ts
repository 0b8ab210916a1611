/**
 * The control API of a running agent: the client that drives it over HTTP (what every `weft`
 * command but `up`, `demo` and the key commands uses) and the server that answers, with the
 * JSON forms of service answers and events.
 *
 * @example Serve an agent's control API and drive it: its status, a ping, a service call
 * ```ts run
 * import { MeshAgent } from "@weft/weft";
 * import { ControlClient, serveControl } from "@weft/weft/control";
 *
 * const mesh = await MeshAgent.start({
 *   role: "leader",
 *   hostname: "hq",
 *   stateDir: await Deno.makeTempDir(),
 *   userspace: true, // no TUN
 *   listenPort: 52820,
 *   dnsPort: 0, // no DNS server
 *   lanDiscovery: false, // no announcements on the LAN
 * });
 * mesh.services.provide("greeter", { hello: (who) => `hello ${who}` });
 * // What `weft --leader` serves on 127.0.0.1:51880 (here a free port) for the other `weft`
 * // commands; the token is what the agent writes to control.token in its state directory.
 * const token = crypto.randomUUID();
 * const server = serveControl(mesh.agent, { listen: "127.0.0.1:0", token, mesh });
 * const client = new ControlClient(server.address, token);
 * const { node } = await client.status();
 * console.log(node.name, node.addresses); // prints: hq [ "10.200.0.1/16" ]
 * const { rtts } = await client.ping("10.200.0.1", { count: 1 });
 * console.log(rtts.length); // prints: 1
 * console.log(await client.call("greeter/hello", "ann", { timeoutMs: 2000 })); // prints: hello ann
 * await server.close();
 * await mesh.close();
 * ```
 * @module
 */

export { AgentAnswerError, ControlClient, type ReceivedDatagram } from "./client.ts";
export { type ControlServer, type ControlServerOptions, serveControl } from "./server.ts";
export { type ServiceLeaderView, type ServiceView } from "./routes/services.ts";
