/** Seals a simulated member's join request to the leader, with its key proof, as a real joiner's. */

import type { Aead, Dh } from "../../../lib/crypto/types.ts";
import { parseKey } from "../../../lib/crypto/keys.ts";
import { encodeBase64 } from "../../../lib/crypto/base64.ts";
import type { CheckedToken } from "../../../lib/mesh/join/client.ts";
import { type JoinPending, sealJoinRequest } from "../../../lib/mesh/join/crypto.ts";
import type { JoinRequest } from "../../../lib/mesh/join/request.ts";
import { joinKeyProof } from "../../../lib/mesh/join/key_proof.ts";
import type { Member } from "./member.ts";

const enc = new TextEncoder();

/** `m`'s join request under the token `checked`, sealed to the leader's key. */
export function sealMemberRequest(
  dh: Dh,
  aead: Aead,
  checked: CheckedToken,
  m: Member,
): { message: Uint8Array; pending: JoinPending } {
  const t = checked.token;
  const req: JoinRequest = {
    tokenId: t.id,
    secret: t.secret,
    publicKey: m.key,
    hostname: m.name,
    labels: {},
    services: [],
    endpoints: [],
    time: Date.now(),
  };
  return sealJoinRequest(
    dh,
    aead,
    checked.leaderKey,
    checked.tokenId,
    checked.mac1Key,
    // With its key proof, as a real joiner's: a copy of it handled again (its answer lost)
    // is then its own resend, not a stranger's request naming its key.
    (ephemeral) => {
      const proof = joinKeyProof(dh, m.priv, checked.leaderKey, {
        leaderKey: checked.leaderKey,
        joinerKey: parseKey(m.key, "key"),
        ephemeral,
        time: req.time,
      });
      return enc.encode(JSON.stringify(proof ? { ...req, keyProof: encodeBase64(proof) } : req));
    },
  );
}
