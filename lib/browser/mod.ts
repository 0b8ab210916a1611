/**
 * The browser build's entry: a mesh member in a web page, through the leader's WebSocket, with a
 * join token, in userspace (no TUN, no UDP: everything goes over the one socket to the leader,
 * which relays to the other members). It calls services, publishes and subscribes as the
 * library's `MeshAgent` does. `deno task browser` bundles it into `dist/weft.browser.js`, an ES
 * module with no Deno API and no FFI (docs/browser.md: how to build and serve it, the limits,
 * where the key lives). It runs in Deno too (Deno has `WebSocket`).
 *
 * @example Join with a token, call a service, and follow a topic
 * ```ts run
 * import { MeshAgent } from "@weft/weft/mesh";
 * import { joinMesh } from "@weft/weft/browser";
 *
 * // A leader in this program, as a page's mesh would have one: userspace, only loopback.
 * const hub = await MeshAgent.start({
 *   userspace: true,
 *   dnsPort: 0,
 *   lanDiscovery: false,
 *   natTraversal: false,
 *   role: "leader",
 *   hostname: "hub",
 *   stateDir: await Deno.makeTempDir(),
 *   listenPort: 52820,
 *   advertise: ["127.0.0.1:52820"],
 * });
 * hub.services.provide("echo", { say: (params, ctx) => ({ said: params, to: ctx.callerName }) });
 * // A token the page was given (its own server made it with `weft token create`).
 * const { token } = await hub.createToken({ ttlMs: 60_000 });
 *
 * // The leader serves its WebSocket on its TCP port (by default its UDP port): `wss://` with
 * // `--ws-tls-cert`. In a page, `url` defaults to the token's leader.
 * const node = await joinMesh({ token, url: "ws://127.0.0.1:52820", hostname: "kiosk" });
 * console.log(node.name, node.address); // prints: kiosk 10.200.0.2
 * const answer = await node.call("echo/say", { hello: "mesh" }, { timeoutMs: 5000 });
 * console.log(answer); // prints: { said: { hello: "mesh" }, to: "kiosk" }
 * const news = node.subscribe("news/*");
 * await news.announced; // the leader knows of the subscription
 * await hub.services.publish("news/hub", { up: true });
 * for await (const event of news) {
 *   console.log(event.topic, event.data, event.publisher); // prints: news/hub { up: true } hub
 *   break;
 * }
 * await node.close();
 * await hub.close();
 * ```
 * @module
 */

export {
  type BrowserNode,
  type BrowserNodeStatus,
  joinMesh,
  type JoinMeshOptions,
} from "./node.ts";
export {
  WEBSOCKET_PATH,
  WEBSOCKET_PROTOCOL,
  type WebSocketConstructor,
} from "../../drivers/websocket.ts";

// The types the exports above refer to, so that this entry documents (and lints) alone.
export type { LogFields, Logger, LogLevel } from "../log/logger.ts";
export type { Member, MemberGrants, MembershipView, ServiceSpec } from "../members/member.ts";
export type { RequestOptions } from "../services/client.ts";
export type { PublishMode, PublishOptions, PublishResult } from "../services/pubsub.ts";
export type {
  AnnounceResult,
  ServiceEvent,
  SubscribeOptions,
  Subscription,
} from "../services/subscription.ts";
export { TopicPattern } from "../services/topics.ts";
