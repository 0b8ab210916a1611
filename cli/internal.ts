/**
 * The library as the command line needs it beyond the public entries: the state directory's file
 * formats, flag and file parsing, the control server's binding, the systemd defaults, the
 * wireguard-go-compatible wrapper's reporting. These are the CLI's own business, not an
 * embedding program's, so no entry in deno.json exports them; the layer check lets `cli/` import
 * only the public entries and this file, and only this file in `cli/` reach into `lib/` and
 * `drivers/`.
 * @module
 */

export {
  checkInterfaceName,
  reportFailure,
  reportReady,
  wireguardLogger,
  wireguardLogLevel,
} from "../lib/agent/wireguard.ts";
export {
  defaultStateDir,
  type OptionHelp,
  optionHelp,
  parseLabel,
  userSetFlags,
} from "../lib/config/agent_config.ts";
export { InputTooLargeError, readTextFileBounded, readUpTo } from "../lib/config/bounded_read.ts";
export { DirLock, DirLockedError } from "../lib/config/dir_lock.ts";
export {
  DEFAULT_UNIT_BINARY,
  DEFAULT_UNIT_CONFIG,
  DEFAULT_UNIT_PATH,
  DEFAULT_UNIT_STATE_DIR,
} from "../lib/config/systemd.ts";
export { interfaceNameFromPath } from "../lib/config/wgquick.ts";
export { bodyTooLargeText } from "../lib/control/middleware/body_limit.ts";
export { eventJson, payloadJson } from "../lib/control/routes/services.ts";
export {
  bindControl,
  type BoundControl,
  MAX_BODY_BYTES,
  MAX_CALL_BODY_BYTES,
} from "../lib/control/server.ts";
export { LOG_FORMATS, LOG_LEVELS, parseLogFormat, parseLogLevel } from "../lib/log/logger.ts";
export { grantedServicesProblem } from "../lib/members/services.ts";
export { meshControlFromConfig } from "../lib/mesh/mesh_config.ts";
export { parsePrefsChange } from "../lib/mesh/prefs.ts";
export { StateDir } from "../lib/mesh/state/state.ts";
export { DEFAULT_STORE_PREFIX, KvLeaderStore } from "../lib/mesh/store/kv_leader_store.ts";
export { migrateToStore } from "../lib/mesh/store/migrate.ts";
export { parseApproval, parseApprovals } from "../lib/routes/prefixes.ts";
export { EtcdStore, type EtcdTls } from "../drivers/etcd/store.ts";
export { parseEtcdUrl } from "../drivers/etcd/url.ts";
export { StoreError } from "../lib/store/kv.ts";
