/**
 * The leader's edits of the service-leader leases' record (lib/services/lease/): kept in the
 * leader's state, written with it, read back after a restart. Plain functions over a copy of the
 * state (./edit_context.ts).
 * @module
 */

import type { LeaseRecord } from "../../services/lease/arbiter.ts";
import type { LeaderFile } from "../state/state.ts";
import type { Edit } from "./changes.ts";

/** The leases' record in `d` (a copy; null: none yet). */
export function leasesOf(d: LeaderFile): LeaseRecord | null {
  return d.leases ? structuredClone(d.leases) : null;
}

/** Replaces the leases' record in `d` with `record` (which the caller no longer changes). */
export function saveLeases(d: LeaderFile, record: LeaseRecord): Edit<void> {
  d.leases = record;
  return { result: undefined, write: true };
}
