/**
 * Test fixture: a LeaderCore opened for a test (on a store, or in memory) and join requests
 * to it, shared by the core's tests (core_test.ts, core_routes_test.ts, core_writes_test.ts,
 * core_names_test.ts).
 * @module
 */

import assert from "node:assert/strict";
import { generateKeyPair } from "../../../crypto/keys.ts";
import type { JoinRequest, JoinResult } from "../../join/request.ts";
import type { LeaderStore } from "../../store/store.ts";
import { LeaderCore } from "../core.ts";

/** The leader's key in every core {@link openCore} opens unless told another. */
export const LEADER_KEY = generateKeyPair().publicKey;

/** What a test opens a core with, beyond the defaults (network 10.77.0.0/24, host `leader`). */
export type CoreOptions = Partial<Parameters<typeof LeaderCore.open>[1]>;

/** Opens a core on `store` (null: in memory) as the leader `leader` at 192.0.2.1:51820. */
export function openCore(
  store: LeaderStore | null = null,
  opts: CoreOptions = {},
): Promise<LeaderCore> {
  return LeaderCore.open(store, {
    network: "10.77.0.0/24",
    hostname: "leader",
    publicKey: LEADER_KEY,
    endpoints: ["192.0.2.1:51820"],
    ...opts,
  });
}

/** A join request with `token` for `hostname`, from a new key, sent at time 1,000. */
export function joinRequest(
  token: { id: string; secret: string },
  hostname: string,
  opts: Partial<JoinRequest> = {},
): JoinRequest {
  return {
    tokenId: token.id,
    secret: token.secret,
    publicKey: generateKeyPair().publicKey,
    hostname,
    labels: {},
    services: [],
    endpoints: [],
    time: 1_000,
    ...opts,
  };
}

/** A join's key proof that holds: the request comes from the key's holder. */
export const HOLDER = (): boolean => true;

/** The accepted answer (fails the test with the answer when it was refused). */
export function accepted(r: JoinResult): Extract<JoinResult, { ok: true }> {
  assert.ok(r.ok, JSON.stringify(r));
  return r;
}

/** Fails the test unless `r` is a refusal whose message matches `error`. */
export function refused(r: JoinResult, error: RegExp): void {
  assert.ok(!r.ok, `accepted: ${JSON.stringify(r)}`);
  assert.match(r.error, error);
}

/** Everything a client can observe of `core`, for "nothing changed" checks. */
export function observable(core: LeaderCore): string {
  return JSON.stringify({ view: core.view(), tokens: core.listTokens(), policy: core.policy() });
}
