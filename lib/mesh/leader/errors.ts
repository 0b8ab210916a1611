/**
 * The leader's refusals: errors with a message for the user, thrown by the edits of its state
 * (the *_edits.ts modules) and by LeaderCore, and mapped to HTTP statuses by the control API.
 * @module
 */

/** A refused operation with a message for the user. */
export class LeaderError extends Error {}

/** A refusal because the node or token named does not exist (the control API's 404). */
export class LeaderNotFoundError extends LeaderError {}
