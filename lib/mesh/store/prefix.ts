/**
 * The prefix of weft's keys in a leaders' shared store, apart from the store itself so that the
 * command line's help shows it without loading the store.
 * @module
 */

/** The prefix of weft's keys when none is given. */
export const DEFAULT_STORE_PREFIX = "/weft/";
