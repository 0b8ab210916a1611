/**
 * Test fixture: a leader's document (`LeaderFile`) and an edit context over it, with no store
 * and no LeaderCore, for the tests of the *_edits.ts modules. Edits run on the document in
 * place ({@link apply}), as the core's change queue runs them on its copy.
 * @module
 */

import { generateKeyPair } from "../../../crypto/keys.ts";
import type { Member } from "../../../members/member.ts";
import type { VersionedPolicy } from "../../../policy/source.ts";
import type { LeaderFile } from "../../state/state.ts";
import type { Edit, Touch } from "../changes.ts";
import type { EditContext, EditCounts } from "../edit_context.ts";
import { hostRange, MemberIndex } from "../member_index.ts";
import { newMesh } from "../mesh_edits.ts";
import { DEFAULT_NAME_HOLD_MS } from "../names.ts";
import { restrictedNames } from "../service_edits.ts";
import { addToken, newToken, type TokenRequest } from "../token_edits.ts";

/** The founding leader's key in every {@link plainDocument}. */
export const DOC_LEADER_KEY = generateKeyPair().publicKey;

/** A new mesh's document: the leader `leader` (key {@link DOC_LEADER_KEY}) alone at .1. */
export function plainDocument(network = "10.77.0.0/24"): LeaderFile {
  return newMesh({
    network,
    hostname: "leader",
    publicKey: DOC_LEADER_KEY,
    endpoints: ["192.0.2.1:51820"],
  }, 0);
}

/** A plain context and what it was told. */
export interface PlainContext extends EditContext {
  /** The quiet members (writable here). */
  readonly quiet: Set<string>;
  /** Policies it was told of, in order. */
  readonly policies: VersionedPolicy[];
  /** How many times it was told the tokens changed. */
  tokenChanges: number;
}

/** An edit context over plain documents: indexes built once per member list, nothing cached. */
export function plainContext(
  opts: { joinHoldMs?: number; nameHoldMs?: number; openedAt?: number } = {},
): PlainContext {
  const indexes = new WeakMap<Member[], MemberIndex>();
  const counts: EditCounts = { labelsDropped: 0, servicesRefused: 0, forgotten: 0 };
  let self: Member | undefined;
  const ctx: PlainContext = {
    index: (d) => {
      let ix = indexes.get(d.members);
      if (!ix) {
        ix = new MemberIndex(d.members, hostRange(d.network));
        indexes.set(d.members, ix);
        self ??= ix.byKey(DOC_LEADER_KEY);
      }
      return ix;
    },
    own: DOC_LEADER_KEY,
    ownRecord: () => self!,
    quiet: new Set(),
    joinHoldMs: opts.joinHoldMs ?? 600_000,
    openedAt: opts.openedAt ?? 0,
    nameHoldMs: opts.nameHoldMs ?? DEFAULT_NAME_HOLD_MS,
    restricted: restrictedNames,
    counts,
    policies: [],
    tokenChanges: 0,
    policyChanged: (p) => ctx.policies.push(p),
    tokensChanged: () => ctx.tokenChanges++,
  };
  return ctx;
}

/** What an edit did: its result, whether it asked to be written, the keys it touched. */
export interface Applied<T> {
  /** The edit's result. */
  result: T;
  /** Whether the edit asked for a write. */
  write: boolean;
  /** The member keys it touched, in order ("" for a touch of no member: the policy). */
  touched: string[];
}

/**
 * Runs `edit` on `d` in place with a touch that moves the version and records the keys, as the
 * change queue's does (./changes.ts), then its `after` (as the queue does once committed).
 */
export function apply<T>(
  d: LeaderFile,
  edit: (d: LeaderFile, touch: Touch) => Edit<T>,
): Applied<T> {
  const touched: string[] = [];
  const e = edit(d, (...keys) => {
    d.version++;
    touched.push(...(keys.length ? keys : [""]));
  });
  e.after?.();
  return { result: e.result, write: e.write, touched };
}

/** A node's record, for documents a test builds by hand. */
export function nodeRecord(name: string, address: string, extra: Partial<Member> = {}): Member {
  return {
    name,
    publicKey: generateKeyPair().publicKey,
    address,
    endpoints: [],
    labels: {},
    role: "node",
    services: [],
    joinedAt: 0,
    ...extra,
  };
}

/** Adds a token made at `now` to `d` (./token_edits.ts); its id and secret, for joins. */
export function addPlainToken(
  ctx: EditContext,
  d: LeaderFile,
  req: Partial<TokenRequest> = {},
  now = 0,
): { id: string; secret: string; expiresAt: number } {
  const made = newToken({ ttlMs: 3_600_000, uses: null, labels: {}, ...req }, now);
  return apply(d, (d, touch) => addToken(ctx, d, touch, made, now)).result;
}
