/**
 * WireGuard's cross-platform userspace API on a unix socket, so the standard `wg` tool can show
 * and change a running weft device: `wg show weft0`, `wg showconf weft0`,
 * `wg set weft0 peer ... allowed-ips ...`, `wg setconf`, `wg syncconf`.
 *
 * The socket is `/var/run/wireguard/<interface>.sock` (the only place `wg` looks). Each
 * connection carries any number of `get=1` / `set=1` requests; a `set` request is parsed and
 * validated whole before any of it is applied, so a bad line leaves the device as it was.
 * @module
 */

import type { Device } from "../device/device.ts";
import type { Peer } from "../peer/peer.ts";
import { encodeKey, equalBytes } from "../crypto/keys.ts";
import { type Logger, nullLogger } from "../log/logger.ts";
import {
  EINVAL,
  EMSGSIZE,
  EOPNOTSUPP,
  findRequestEnd,
  formatErrno,
  formatGetResponse,
  parseSetRequest,
  type UapiDeviceState,
  UapiError,
  type UapiPeerChange,
  type UapiSetRequest,
} from "./protocol.ts";
import { guardListener, type ListenerStats, type Slot } from "../net/conn_guard.ts";

/** Where `wg` looks for userspace interfaces' sockets. */
export const DEFAULT_UAPI_DIR = "/var/run/wireguard";
/** The largest request accepted by default; a larger one is answered EMSGSIZE and cut off. */
export const DEFAULT_MAX_UAPI_REQUEST: number = 1 << 20;

/** Options of {@linkcode serveUapi}. */
export interface UapiServerOptions {
  /** The socket directory; default `/var/run/wireguard` (created mode 0755 if missing). */
  dir?: string;
  /** Where connection errors and applied changes are logged. Default: nowhere. */
  logger?: Logger;
  /** The largest request in bytes; default 1 MiB. */
  maxRequestBytes?: number;
  /** The underlay socket's firewall mark, reported as `fwmark`; default 0 (none). */
  fwmark?: number;
  /**
   * Let `set` change the device's private key, listen port and fwmark, as wireguard-go does
   * (`wg setconf` on a device that started without them: `weft wireguard`). Default false: a
   * request may restate them but a change is refused with EOPNOTSUPP (an agent whose key and
   * port its configuration owns).
   */
  deviceChanges?: boolean;
  /** Most connections open at once (default 64); at the cap the oldest waiting one is closed. */
  maxConnections?: number;
  /** Counters of the accept loop to update (created when absent). */
  stats?: ListenerStats;
}

/** A running UAPI socket. */
export interface UapiServer {
  /** The socket's path. */
  readonly path: string;
  /** Stops listening, drops open connections and removes the socket file. */
  close(): Promise<void>;
}

/** What a request is answered with, and whether the connection ends after it. */
export interface UapiReply {
  /** The response text, ending with `errno=N` and an empty line. */
  response: string;
  /** True when the connection is closed after the response (an unknown operation). */
  close: boolean;
}

function keepaliveSeconds(peer: Peer): number {
  return Math.round(peer.timers.persistentKeepaliveMs / 1000);
}

/**
 * The device as `get=1` reports it, with the mark its underlay socket was opened with. The
 * private key is a copy the caller should wipe.
 */
export function uapiState(device: Device, fwmark = 0): UapiDeviceState {
  return {
    privateKey: device.privateKeyBytes(),
    listenPort: device.listenPort,
    fwmark,
    peers: device.peers().map((p) => ({
      publicKey: p.publicKey,
      presharedKey: p.handshake.presharedKey,
      endpoint: p.endpoint === null ? null : p.endpoint.toString(),
      lastHandshakeUnixMs: p.lastHandshakeUnixMs,
      txBytes: p.counters.txBytes,
      rxBytes: p.counters.rxBytes,
      persistentKeepalive: keepaliveSeconds(p),
      allowedIps: device.allowedIpsOf(p),
    })),
  };
}

/** The full response to `get=1` for a device. */
export function uapiGet(device: Device, fwmark = 0): string {
  const state = uapiState(device, fwmark);
  try {
    return formatGetResponse(state);
  } finally {
    state.privateKey.fill(0);
  }
}

/**
 * What the server knows of the device beyond the device itself: the mark its underlay socket
 * has (kept up to date as `set` changes it), and whether `set` may change key, port and mark.
 */
export interface UapiSettings {
  /** The underlay socket's firewall mark (0: none). */
  fwmark: number;
  /** Whether `set` may change the private key, listen port and fwmark. */
  deviceChanges: boolean;
}

/** errno.h EIO: the device could not make a change and said no errno. */
const EIO = 5;

function settingsOf(fwmark: number | UapiSettings): UapiSettings {
  return typeof fwmark === "number" ? { fwmark, deviceChanges: false } : fwmark;
}

/**
 * A device's refusal of a change, as the errno `wg` shows: the error's own (EADDRINUSE for a
 * port in use, EPERM for a mark without CAP_NET_ADMIN, EOPNOTSUPP where the transport cannot),
 * else EIO.
 */
function changeFailed(what: string, e: unknown): UapiError {
  const code = (e as { errno?: unknown })?.errno;
  const errno = typeof code === "number" && Number.isInteger(code) && code > 0 ? code : EIO;
  return new UapiError(errno, `${what}: ${e instanceof Error ? e.message : String(e)}`);
}

/**
 * Applies the device lines of a request that may change them: the mark first, then the port
 * (when it cannot be had the mark is put back, so a refused request changes nothing), then the
 * key, which cannot fail.
 */
function applyDeviceChanges(device: Device, req: UapiSetRequest, settings: UapiSettings): void {
  const oldMark = settings.fwmark;
  if (req.fwmark !== undefined && req.fwmark !== oldMark) {
    try {
      device.setFwMark(req.fwmark);
    } catch (e) {
      throw changeFailed(`fwmark ${req.fwmark}`, e);
    }
    settings.fwmark = req.fwmark;
  }
  // 0 asks for a new port the kernel picks, as wireguard-go rebinds for it.
  if (
    req.listenPort !== undefined && (req.listenPort === 0 || req.listenPort !== device.listenPort)
  ) {
    try {
      device.setListenPort(req.listenPort);
    } catch (e) {
      if (settings.fwmark !== oldMark) {
        try {
          device.setFwMark(oldMark);
          settings.fwmark = oldMark;
        } catch { /* the new mark stays, and is what get reports */ }
      }
      throw changeFailed(`listen port ${req.listenPort}`, e);
    }
  }
  if (req.privateKey !== undefined) {
    try {
      device.setPrivateKey(req.privateKey);
    } finally {
      req.privateKey.fill(0);
    }
  }
}

function checkDeviceChanges(device: Device, req: UapiSetRequest, fwmark: number): void {
  if (req.privateKey !== undefined) {
    const current = device.privateKeyBytes();
    const same = equalBytes(current, req.privateKey);
    current.fill(0);
    req.privateKey.fill(0);
    // `wg setconf` and `wg syncconf` resend the key they read: that must keep working.
    if (!same) {
      throw new UapiError(
        EOPNOTSUPP,
        "changing the private key of a running device is not supported",
      );
    }
  }
  if (req.listenPort !== undefined && req.listenPort !== device.listenPort) {
    throw new UapiError(
      EOPNOTSUPP,
      `changing the listen port (${device.listenPort}) of a running device is not supported`,
    );
  }
  if (req.fwmark !== undefined && req.fwmark !== fwmark) {
    throw new UapiError(
      EOPNOTSUPP,
      `changing the fwmark (${fwmark}) of a running device is not supported`,
    );
  }
}

function applyPeerChange(device: Device, change: UapiPeerChange): void {
  const key = encodeKey(change.publicKey);
  // As wireguard-go: a section naming our own key is accepted and ignored.
  if (key === device.publicKey) return;
  const existing = device.peer(key);
  if (change.remove) {
    device.removePeer(key);
    return;
  }
  if (change.updateOnly && existing === undefined) return;
  const allowed = existing === undefined || change.replaceAllowedIps
    ? change.allowedIps
    : [...device.allowedIpsOf(existing), ...change.allowedIps];
  // setPeer replaces every field it is given: carry over what the section leaves alone.
  device.setPeer({
    publicKey: change.publicKey,
    presharedKey: change.presharedKey ?? existing?.handshake.presharedKey,
    endpoint: change.endpoint,
    persistentKeepalive: change.persistentKeepalive ??
      (existing === undefined ? 0 : keepaliveSeconds(existing)),
    allowedIps: [...new Set(allowed)],
  });
}

/**
 * Applies a validated `set` request; throws a UapiError when the device cannot do it. `fwmark`
 * is the device's mark, which a request may restate but not change, or the server's settings
 * (with `deviceChanges`, key, port and mark are changed, and a new mark is recorded there).
 */
export function applyUapiSet(
  device: Device,
  req: UapiSetRequest,
  fwmark: number | UapiSettings = 0,
): void {
  const settings = settingsOf(fwmark);
  if (settings.deviceChanges) applyDeviceChanges(device, req, settings);
  else checkDeviceChanges(device, req, settings.fwmark);
  if (req.replacePeers) {
    for (const p of device.peers()) device.removePeer(p.publicKeyText);
  }
  for (const change of req.peers) applyPeerChange(device, change);
}

function errnoOf(e: unknown): number {
  return e instanceof UapiError ? e.errno : EINVAL;
}

/**
 * Answers one whole request: its text up to, not including, the terminating empty line (so
 * `"get=1\n"` or `"set=1\nkey=value\n"`). `fwmark`: the device's mark, or the server's
 * settings (see {@link applyUapiSet}). Never throws.
 */
export function handleUapiRequest(
  device: Device,
  text: string,
  logger: Logger = nullLogger,
  fwmark: number | UapiSettings = 0,
): UapiReply {
  const settings = settingsOf(fwmark);
  const lines = text.split("\n");
  if (lines[lines.length - 1] === "") lines.pop();
  const op = lines[0];
  if (op === "get=1") {
    if (lines.length !== 1) {
      logger.warn("uapi get refused", { reason: "trailing lines after get=1" });
      return { response: formatErrno(EINVAL), close: false };
    }
    return { response: uapiGet(device, settings.fwmark), close: false };
  }
  if (op === "set=1") {
    try {
      const req = parseSetRequest(lines.slice(1));
      applyUapiSet(device, req, settings);
      logger.info("uapi set applied", { peers: req.peers.length });
      return { response: formatErrno(0), close: false };
    } catch (e) {
      const errno = errnoOf(e);
      logger.warn("uapi set refused", { errno, reason: (e as Error)?.message ?? String(e) });
      return { response: formatErrno(errno), close: false };
    }
  }
  logger.warn("uapi unknown operation", { operation: (op ?? "").slice(0, 20) });
  return { response: formatErrno(EINVAL), close: true };
}

const IFNAME_RE = /^[A-Za-z0-9_=+.-]{1,15}$/;

/** Whether the unix socket at `path` accepts a connection (closed at once); false if not. */
export async function isSocketLive(path: string): Promise<boolean> {
  let conn: Deno.UnixConn;
  try {
    conn = await Deno.connect({ transport: "unix", path });
  } catch (e) {
    if (e instanceof Deno.errors.ConnectionRefused || e instanceof Deno.errors.NotFound) {
      return false;
    }
    throw e;
  }
  conn.close();
  return true;
}

/** Removes a socket file left by a process that is gone; refuses a live one or a non-socket. */
async function clearStaleSocket(path: string, interfaceName: string): Promise<void> {
  let info: Deno.FileInfo;
  try {
    info = await Deno.lstat(path);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return;
    throw e;
  }
  if (!info.isSocket) {
    throw new Error(`${path} exists and is not a socket; not touching it`);
  }
  if (await isSocketLive(path)) {
    throw new Error(
      `interface ${interfaceName} is already served by another process (${path} accepts connections)`,
    );
  }
  await Deno.remove(path);
}

/** Creates `dir` mode 0755 (whatever the umask) if missing; an existing one is left as it is. */
async function ensureDir(dir: string): Promise<void> {
  try {
    if ((await Deno.stat(dir)).isDirectory) return;
  } catch (e) {
    if (!(e instanceof Deno.errors.NotFound)) throw e;
  }
  await Deno.mkdir(dir, { recursive: true, mode: 0o755 });
  await Deno.chmod(dir, 0o755);
}

async function writeAll(conn: Deno.Conn, data: Uint8Array): Promise<void> {
  for (let off = 0; off < data.length;) off += await conn.write(data.subarray(off));
}

async function serveConnection(
  slot: Slot<Deno.UnixConn>,
  device: Device,
  logger: Logger,
  maxRequest: number,
  settings: UapiSettings,
): Promise<void> {
  const conn = slot.conn;
  const encoder = new TextEncoder();
  const decoder = new TextDecoder("utf-8", { fatal: true });
  let buf = new Uint8Array(Math.min(4096, maxRequest));
  let len = 0;
  let searched = 0;
  for (;;) {
    let end: number;
    while ((end = findRequestEnd(buf, len, searched)) >= 0) {
      let reply: UapiReply;
      try {
        // end - 1 drops the newline of the empty line that ends the request.
        const text = decoder.decode(buf.subarray(0, end - 1));
        reply = handleUapiRequest(device, text, logger, settings);
      } catch {
        reply = { response: formatErrno(EINVAL), close: true }; // not UTF-8
      }
      await writeAll(conn, encoder.encode(reply.response));
      if (reply.close) return;
      buf.copyWithin(0, end, len);
      len -= end;
      searched = 0;
    }
    searched = len;
    if (len === buf.length) {
      if (len >= maxRequest) {
        logger.warn("uapi request too large", { limit: maxRequest });
        await writeAll(conn, encoder.encode(formatErrno(EMSGSIZE)));
        return;
      }
      const bigger = new Uint8Array(Math.min(buf.length * 2, maxRequest));
      bigger.set(buf);
      buf = bigger;
    }
    // Only a connection waiting for its client may be closed to make room for a new one.
    slot.waiting = true;
    const n = await conn.read(buf.subarray(len));
    slot.waiting = false;
    if (n === null) return; // the client left; a partial request is dropped unapplied
    len += n;
  }
}

/**
 * Serves the userspace API for `device` as interface `interfaceName` on
 * `<dir>/<interfaceName>.sock`, so `wg show <interfaceName>` and friends work (the example of
 * `@weft/weft/uapi` asks it).
 */
export async function serveUapi(
  device: Device,
  interfaceName: string,
  opts: UapiServerOptions = {},
): Promise<UapiServer> {
  if (!IFNAME_RE.test(interfaceName) || interfaceName === "." || interfaceName === "..") {
    throw new Error(
      `invalid interface name "${interfaceName}": 1-15 characters of A-Z a-z 0-9 _ = + . -`,
    );
  }
  const dir = opts.dir ?? DEFAULT_UAPI_DIR;
  const logger = opts.logger ?? nullLogger;
  const maxRequest = opts.maxRequestBytes ?? DEFAULT_MAX_UAPI_REQUEST;
  if (!Number.isInteger(maxRequest) || maxRequest < 16) {
    throw new RangeError(`maxRequestBytes must be an integer >= 16, got ${maxRequest}`);
  }
  const fwmark = opts.fwmark ?? 0;
  if (!Number.isInteger(fwmark) || fwmark < 0 || fwmark > 0xffffffff) {
    throw new RangeError(`fwmark must be an integer from 0 to 0xffffffff, got ${fwmark}`);
  }
  const settings: UapiSettings = { fwmark, deviceChanges: opts.deviceChanges ?? false };
  await ensureDir(dir);
  const path = `${dir}/${interfaceName}.sock`;
  await clearStaleSocket(path, interfaceName);
  const listener = Deno.listen({ transport: "unix", path });
  try {
    // Connecting needs write permission on the socket: 0600 keeps it to root (or our user).
    await Deno.chmod(path, 0o600);
  } catch (e) {
    listener.close();
    await Deno.remove(path).catch(() => {}); // the chmod error is the one to report
    throw e;
  }

  let closed = false;
  // Failed accepts (out of descriptors) are counted and retried; connections are capped.
  const guard = guardListener(listener, {
    name: "uapi",
    maxConnections: opts.maxConnections ?? 64,
    stats: opts.stats,
    logger,
    serve: (slot) =>
      serveConnection(slot, device, logger, maxRequest, settings).catch((e) => {
        if (!closed) logger.debug("uapi connection ended", { error: String(e) });
      }),
  });
  logger.info("uapi listening", { path });

  return {
    path,
    async close(): Promise<void> {
      if (closed) return;
      closed = true;
      await guard.close();
      try {
        // Deno unlinks a unix listener's path when it closes; this covers runtimes that do not.
        await Deno.remove(path);
      } catch (e) {
        if (!(e instanceof Deno.errors.NotFound)) throw e;
      }
    },
  };
}
