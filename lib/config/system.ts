/**
 * Facts about the machine that defaults depend on (user, home, host name, working directory),
 * read only when a default needs them, and the default state directory built from them.
 * @module
 */

import { isAbsolute, join } from "node:path";
import { ConfigError } from "./config_error.ts";

/** Facts about the machine that some defaults depend on; tests pass their own. */
export interface SystemInfo {
  /** The effective user id; null when unknown (treated as not root). */
  uid: number | null;
  /** `$HOME`. */
  home: string | undefined;
  /** `$XDG_STATE_HOME`. */
  xdgStateHome: string | undefined;
  /** The machine's host name, as the system reports it. */
  hostname: string;
  /** The working directory, against which relative paths from flags are resolved. */
  cwd: string;
  /**
   * Reads an environment variable (`HTTPS_PROXY`, `NO_PROXY`: lib/net/proxy.ts); absent: no
   * environment at all (tests).
   */
  env?: (name: string) => string | undefined;
}

function tryOr<T>(f: () => T, fallback: T): T {
  try {
    return f();
  } catch {
    return fallback;
  }
}

/** Machine facts, read only when a default needs them (reading may need --allow-sys/env). */
export function liveSystem(over: Partial<SystemInfo>): SystemInfo {
  return {
    get uid() {
      return "uid" in over ? over.uid ?? null : tryOr(() => Deno.uid(), null);
    },
    get home() {
      return "home" in over ? over.home : tryOr(() => Deno.env.get("HOME"), undefined);
    },
    get xdgStateHome() {
      return "xdgStateHome" in over
        ? over.xdgStateHome
        : tryOr(() => Deno.env.get("XDG_STATE_HOME"), undefined);
    },
    get hostname() {
      return over.hostname ?? tryOr(() => Deno.hostname(), "");
    },
    get cwd() {
      return over.cwd ?? tryOr(() => Deno.cwd(), "/");
    },
    // Without --allow-env a variable reads as unset, as it would be without the permission.
    env: "env" in over ? over.env : (name) => tryOr(() => Deno.env.get(name), undefined),
  };
}

/** The default state directory for a user: /var/lib/weft for root, else under XDG state home. */
export function defaultStateDir(sys: Partial<SystemInfo> = {}): string {
  const s = liveSystem(sys);
  if (s.uid === 0) return "/var/lib/weft";
  const xdg = s.xdgStateHome;
  // The XDG spec says relative values are invalid and must be ignored.
  if (xdg !== undefined && isAbsolute(xdg)) return join(xdg, "weft");
  const home = s.home;
  if (home === undefined || home === "") {
    throw new ConfigError(
      "no default state directory: $HOME is not set; give --state-dir or state-dir in the file",
    );
  }
  return join(home, ".local", "state", "weft");
}
