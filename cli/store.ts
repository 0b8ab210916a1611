/**
 * The leader's shared store from the command line: `--store etcd://...` with its TLS files and
 * prefix opened as an etcd client and a {@link KvLeaderStore} (for `weft --leader`), and
 * `weft store migrate`, which moves a single leader's mesh from its state directory into one.
 * @module
 */

import { type Command, Option } from "npm:@commander-js/extra-typings@^15.1.0";
import type { Logger } from "../mod.ts";
import { readPemFlag } from "./pem.ts";
import { UsageError } from "./errors.ts";
import { DEFAULT_STORE_PREFIX } from "./internal_client.ts";
import type { EtcdStore, EtcdTls, KvLeaderStore } from "./internal.ts";

/** How long closing waits for the store's watches to end, ms. */
const CLOSE_WAIT_MS = 2000;

/** How to reach the store, as the flags or the YAML file give it. */
export interface StoreFlags {
  /** `etcd://HOST:PORT[,...]`. */
  store: string;
  /** PEM files. */
  storeCa?: string;
  storeCert?: string;
  storeKey?: string;
  /** The prefix of weft's keys (default `/weft/`). */
  storePrefix?: string;
}

/** An open store: the leader's view of it and what closes both. */
export interface OpenedStore {
  /** The leader's document in the store. */
  store: KvLeaderStore;
  /** Stops the store's probe and watches and closes the client. */
  close(): Promise<void>;
}

/**
 * Opens the etcd client and the leader's store over it (no call is made yet). A bad URL or an
 * unreadable PEM file is a usage error naming the flag.
 */
export async function openStore(flags: StoreFlags, logger?: Logger): Promise<OpenedStore> {
  // The store's client, loaded when a store is named rather than for every `weft`.
  const { EtcdStore, KvLeaderStore, parseEtcdUrl } = await import("./internal.ts");
  let url;
  try {
    url = parseEtcdUrl(flags.store);
  } catch (e) {
    throw new UsageError(`--store: ${(e as Error).message}`);
  }
  const ca = await readPemFlag("--store-ca", flags.storeCa);
  const cert = await readPemFlag("--store-cert", flags.storeCert);
  const key = await readPemFlag("--store-key", flags.storeKey);
  if ((cert === undefined) !== (key === undefined)) {
    throw new UsageError("--store-cert and --store-key go together");
  }
  if (cert !== undefined && ca === undefined) {
    throw new UsageError("--store-cert: a client certificate needs --store-ca (TLS)");
  }
  const tls: EtcdTls | undefined = ca === undefined ? undefined : { ca, cert, key };
  let kv: EtcdStore;
  try {
    kv = new EtcdStore({ url, tls });
  } catch (e) {
    throw new UsageError(`--store: ${(e as Error).message}`);
  }
  const store = new KvLeaderStore(kv, {
    prefix: flags.storePrefix ?? DEFAULT_STORE_PREFIX,
    name: flags.store,
    // One line when the store starts failing and one when it answers again.
    onHealth: (h) =>
      h.ok
        ? logger?.info("store answers again", { store: h.store, revision: h.revision })
        : logger?.warn("store failing", { store: h.store, error: h.error ?? "" }),
  });
  return {
    store,
    close: async () => {
      store.close();
      // Bounded: a watch stream the store never ends must not keep a stopping leader alive.
      let timer: ReturnType<typeof setTimeout> | undefined;
      await Promise.race([
        kv.close(),
        new Promise((r) => timer = setTimeout(r, CLOSE_WAIT_MS)),
      ]);
      clearTimeout(timer);
    },
  };
}

/** Adds `weft store migrate` to `program`. */
export function addStoreCommands(program: Command): void {
  const storeCmd = program.command("store").description(
    "the leaders' shared store (etcd)",
  );
  storeCmd.command("migrate")
    .description(
      "move a single leader's mesh from its state directory into an empty store prefix " +
        "(stop the leader first; then run it with --state-dir <dir> --store <url>)",
    )
    .requiredOption("--from <dir>", "the leader's state directory (leader.json)")
    .requiredOption("--to <url>", "the store: etcd://HOST:PORT[,HOST:PORT...]")
    .addOption(new Option("--store-ca <file>", "the CA of the store's certificates (TLS)"))
    .addOption(new Option("--store-cert <file>", "a client certificate for the store"))
    .addOption(new Option("--store-key <file>", "the client certificate's private key"))
    .addOption(
      new Option("--store-prefix <prefix>", "the prefix of weft's keys in the store").default(
        DEFAULT_STORE_PREFIX,
      ),
    )
    .action(async (opts) => {
      if (!opts.storePrefix.endsWith("/")) {
        throw new UsageError(`--store-prefix: ${JSON.stringify(opts.storePrefix)} must end with /`);
      }
      const { migrateToStore } = await import("./internal.ts");
      const opened = await openStore({ ...opts, store: opts.to });
      try {
        const r = await migrateToStore(opts.from, opened.store);
        console.log(
          `moved ${r.members} members and ${r.tokens} tokens from ${opts.from} into ` +
            `${opened.store.where} (revision ${r.revision}); run the leader with ` +
            `--state-dir ${opts.from} --store ${opts.to}`,
        );
      } finally {
        await opened.close();
      }
    });
}
