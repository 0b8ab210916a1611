/**
 * The guards every control request passes first, in order: Referrer-Policy, Host, token. One
 * place for both servers that apply them: the control app on the main thread and the API worker
 * answering the hot reads (api_worker.ts), so the two never drift apart.
 * @module
 */

import type { Hono } from "npm:hono@^4.13.19";
import { noReferrer } from "./referrer.ts";
import { hostCheck } from "./host.ts";
import { tokenAuth, type TokenSource } from "./auth.ts";

/** What the guards check. */
export interface GuardConfig {
  /** Host names served (others 421); absent: any host (a remote listener). */
  allowHost?: (host: string) => boolean;
  /** Require the token on every route (a non-loopback listener), not only under `/v1`. */
  tokenEverywhere?: boolean;
  /** The control token (none: `/v1/*` over the unix socket only). */
  token?: TokenSource;
  /** The read-only monitoring token. */
  monitorToken?: TokenSource;
}

/** Installs the guards on `app`, before any route. */
export function useGuards(app: Hono, opts: GuardConfig): void {
  app.use(noReferrer());
  if (opts.allowHost) app.use(hostCheck(opts.allowHost));
  // Here rather than in the sub-apps: a path no route serves is refused too, so a client without
  // the token cannot tell which routes exist.
  // Always: without a token the control routes answer over the unix socket only (fail closed).
  app.use(
    opts.tokenEverywhere ? "*" : "/v1/*",
    tokenAuth({ token: opts.token, monitorToken: opts.monitorToken }),
  );
}
