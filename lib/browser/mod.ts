/**
 * The browser build's entry: a mesh member in a web page, through the leader's WebSocket, with a
 * join token, in userspace (no TUN, no UDP: everything goes over the one socket to the leader,
 * which relays to the other members). It calls services, publishes and subscribes as the
 * library's `MeshAgent` does. `deno task browser` bundles it into `dist/weft.browser.js`, an ES
 * module with no Deno API and no FFI (docs/browser.md: how to build and serve it, the limits,
 * where the key lives). It runs in Deno too (Deno has `WebSocket`).
 *
 * @example Join from a page, call a service, and follow a topic
 * ```ts check: needs a leader serving its WebSocket, and a token of its mesh
 * import { joinMesh } from "@weft/weft/browser";
 *
 * // A token the page was given (its own server made it with `weft token create`).
 * const token = "weft1...";
 * const node = await joinMesh({ token, url: "wss://hub.example.com:51820", hostname: "kiosk" });
 * console.log(node.name, node.address);
 * const answer = await node.call("echo/say", { hello: "mesh" }, { timeoutMs: 5000 });
 * console.log(answer);
 * const news = node.subscribe("news/*");
 * await node.publish("news/kiosk", { up: true });
 * for await (const event of news) {
 *   console.log(event.topic, event.data);
 *   break;
 * }
 * await node.close();
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
