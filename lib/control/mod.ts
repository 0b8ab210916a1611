/**
 * The control API of a running agent: the client that drives it over HTTP (what every `weft`
 * command but `up`, `demo` and the key commands uses) and the server that answers, with the
 * JSON forms of service answers and events.
 *
 * @example Drive the local agent: its status, a ping, a service call
 * ```ts
 * import { ControlClient } from "@weft/weft/control";
 *
 * const token = (await Deno.readTextFile("/var/lib/weft/control.token")).trim();
 * const client = new ControlClient("127.0.0.1:51880", token);
 * const { node } = await client.status();
 * console.log(node.name, (await client.ping("10.200.0.1")).rtts);
 * console.log(await client.call("greeter/hello", "ann", { timeoutMs: 2000 }));
 * ```
 * @module
 */

export { AgentAnswerError, ControlClient, type ReceivedDatagram } from "./client.ts";
export { bodyTooLargeText } from "./middleware/body_limit.ts";
export {
  bindControl,
  type BoundControl,
  type ControlServer,
  type ControlServerOptions,
  MAX_BODY_BYTES,
  serveControl,
} from "./server.ts";
export {
  eventJson,
  payloadJson,
  type ServiceLeaderView,
  type ServiceView,
} from "./routes/services.ts";
