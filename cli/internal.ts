/**
 * The library as the command line needs it beyond the public entries: the state directory's file
 * formats, flag and file parsing, the control server's binding, the systemd defaults, the
 * wireguard-go-compatible wrapper's reporting. These are the CLI's own business, not an
 * embedding program's, so no entry in deno.json exports them; the layer check lets `cli/` import
 * only the public entries and the `cli/internal*.ts` files, and only those reach into `lib/` and
 * `drivers/`. This one serves the commands that run an agent and loads most of the library; the
 * commands that ask one use cli/internal_client.ts, which loads little.
 * @module
 */

export {
  checkInterfaceName,
  reportFailure,
  reportReady,
  wireguardLogger,
  wireguardLogLevel,
} from "../lib/agent/wireguard.ts";
export { userSetFlags } from "../lib/config/agent_config.ts";
export { DirLock } from "../lib/config/dir_lock.ts";
export { interfaceNameFromPath } from "../lib/config/wgquick.ts";
export { bindControl, type BoundControl } from "../lib/control/server.ts";
export { meshControlFromConfig } from "../lib/mesh/mesh_config.ts";
export { StateDir } from "../lib/mesh/state/state.ts";
export { KvLeaderStore } from "../lib/mesh/store/kv_leader_store.ts";
export { migrateToStore } from "../lib/mesh/store/migrate.ts";
export { EtcdStore, type EtcdTls } from "../drivers/etcd/store.ts";
export { parseEtcdUrl } from "../drivers/etcd/url.ts";
export { StoreError } from "../lib/store/kv.ts";
