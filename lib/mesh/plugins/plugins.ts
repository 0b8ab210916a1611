/**
 * The plugins part of a mesh agent: every plugin the operator named, started after the service
 * layer they use (each must start, or the agent does not: a component asked for that cannot run
 * stops the start), supervised while the agent runs (host.ts: one that fails is stopped and
 * reported, the agent goes on), and stopped before the service layer closes.
 * @module
 */

import type { PluginSpec } from "../../config/plugins.ts";
import type { Logger } from "../../log/logger.ts";
import type { PluginStatus } from "../../status/status.ts";
import { PluginHost, type PluginServiceLayer, type PluginTiming } from "./host.ts";

/** The plugin section of a mesh agent's options. */
export interface PluginsOptions {
  /** Plugins to run, each with the permissions granted to it (`--plugin`, `plugins:`). */
  plugins?: PluginSpec[];
  /** The supervision's timing (tests shorten it). */
  pluginTiming?: Partial<PluginTiming>;
}

/** The plugins of one agent. */
export class Plugins {
  readonly #hosts: PluginHost[];

  /** Hosts for `opts.plugins` over the agent's service layer; `start` runs them. */
  constructor(opts: PluginsOptions, deps: { services: PluginServiceLayer; logger: Logger }) {
    const names = new Set<string>();
    this.#hosts = (opts.plugins ?? []).map((spec) => {
      const host = new PluginHost(spec, { ...deps, timing: opts.pluginTiming });
      // The name is what logs and `/status` call it: two modules of one name would be confused.
      if (names.has(host.name)) throw new Error(`two plugins are named ${host.name}`);
      names.add(host.name);
      return host;
    });
  }

  /** Starts every plugin in turn; rejects with the first that cannot start (see host.ts). */
  async start(): Promise<void> {
    for (const h of this.#hosts) await h.start();
  }

  /** Each plugin's state, for `/status`. */
  status(): PluginStatus[] {
    return this.#hosts.map((h) => h.status());
  }

  /** Stops every plugin. */
  close(): void {
    for (const h of this.#hosts) h.close();
  }
}
