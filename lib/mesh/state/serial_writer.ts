/**
 * One write at a time, each of the newest snapshot: the node's file as its sync saves it. Apart
 * from the state directory so that what uses it needs no file system (the browser build).
 * @module
 */

/**
 * Serialises writes: each `save()` writes the newest snapshot after the writes before it, and
 * resolves once a write that includes the caller's change is on disk.
 */
export class SerialWriter {
  #chain: Promise<void> = Promise.resolve();

  constructor(private readonly write: () => Promise<void>) {}

  /** Queues a write of the current state. */
  save(): Promise<void> {
    const next = this.#chain.then(() => this.write());
    // The caller gets the failure through `next`; the chain only has to go on to the next write.
    this.#chain = next.catch(() => {});
    return next;
  }
}
