/**
 * What a plugin gets: the same service API as a program embedding the library has in
 * `mesh.services` (provide, request, publish, subscribe), run in the plugin's worker and carried
 * to the agent's service layer by messages. A plugin is a module whose default export is a
 * {@link Plugin}: it provides its services and starts its subscriptions, and the agent counts it
 * as running once that returns.
 * @module
 */

import type { RequestOptions } from "../../services/client.ts";
import type { ProvidedService, ServiceActions } from "../../services/local.ts";
import type { PublishOptions, PublishResult } from "../../services/pubsub.ts";
import type {
  AnnounceResult,
  ServiceEvent,
  SubscribeOptions,
} from "../../services/subscription.ts";

/** A plugin's subscription: its events through `for await`; leaving the loop ends it. */
export interface PluginSubscription extends AsyncIterable<ServiceEvent> {
  /** The pattern subscribed to. */
  readonly pattern: string;
  /** Resolves once the other members were told of the subscription. */
  readonly announced: Promise<AnnounceResult>;
  /** Ends the subscription. */
  close(): void;
}

/** The service API as a plugin has it: `mesh.services`' calls, with the same arguments. */
export interface PluginServices {
  /**
   * Provides service `name` with `actions`, on the agent's node; throws on a bad name or action
   * (the agent refusing it, as a name provided already, fails the plugin's start).
   */
  provide(name: string, actions: ServiceActions): ProvidedService;
  /** Calls `service/action` on an instance of the service (see `MeshServices.request`). */
  request(path: string, params?: unknown, opts?: RequestOptions): Promise<unknown>;
  /** Publishes an event (see `MeshServices.publish`). */
  publish(topic: string, data: unknown, opts?: PublishOptions): Promise<PublishResult>;
  /** Subscribes to a topic pattern (see `MeshServices.subscribe`). */
  subscribe(pattern: string, opts?: SubscribeOptions): PluginSubscription;
}

/** What a plugin's default export is called with. */
export interface PluginMesh {
  /** The plugin's name (its file's, without the extension). */
  readonly name: string;
  /** The service API. */
  readonly services: PluginServices;
}

/** A plugin module's default export. */
export type Plugin = (mesh: PluginMesh) => void | Promise<void>;
