/**
 * The library as the commands that ask an agent need it beyond the public entries, each name from
 * the module that defines it: finding the agent from its state directory, flag and file parsing,
 * the services' JSON forms. The public entries each load their whole part of the library (the
 * root one all of it, about 420 modules), while `weft status` needs about 50: a one-shot command
 * imports this file, and `cli/internal.ts` is left to the commands that run an agent. Names a
 * public entry exports too (`VERSION`, `createLogger`, `ConfigError`, `ServiceError`) are the
 * same values (cli/internal_test.ts checks it). The layer check lets `cli/` reach into `lib/`
 * only through the `cli/internal*.ts` files.
 * @module
 */

export { defaultStateDir } from "../lib/config/system.ts";
export { parseLabel } from "../lib/config/values.ts";
export { ConfigError } from "../lib/config/config_error.ts";
export {
  DEFAULT_UNIT_BINARY,
  DEFAULT_UNIT_CONFIG,
  DEFAULT_UNIT_PATH,
  DEFAULT_UNIT_STATE_DIR,
} from "../lib/config/systemd.ts";
export { InputTooLargeError, readTextFileBounded, readUpTo } from "../lib/config/bounded_read.ts";
export { DirLockedError } from "../lib/config/dir_lock.ts";
export { bodyTooLargeText } from "../lib/control/middleware/body_limit.ts";
export { MAX_BODY_BYTES, MAX_CALL_BODY_BYTES } from "../lib/control/middleware/body.ts";
export { eventJson, payloadJson } from "../lib/control/routes/service_json.ts";
export {
  createLogger,
  LOG_FORMATS,
  LOG_LEVELS,
  type Logger,
  parseLogFormat,
  parseLogLevel,
} from "../lib/log/logger.ts";
export { grantedServicesProblem } from "../lib/members/services.ts";
export { parsePrefsChange } from "../lib/mesh/prefs.ts";
export { DEFAULT_STORE_PREFIX } from "../lib/mesh/store/prefix.ts";
export { controlSocketPath, readStatusAddress } from "../lib/mesh/state/agent_address.ts";
export { parseApproval, parseApprovals } from "../lib/routes/prefixes.ts";
export { ServiceError } from "../lib/services/errors.ts";
export { VERSION } from "../lib/version.ts";
