/**
 * The control server's listeners, bound by whichever thread serves them (the main thread's control
 * server or the API worker), so that either fails with the same message: the status address and
 * the agent's unix control socket (`<state-dir>/weft.sock`, mode 0600).
 * @module
 */

/**
 * Listens on TCP `hostname:port`; when it cannot, throws naming `shown` (the address as the user
 * gave it), the system's error as its cause.
 */
export function listenTcp(hostname: string, port: number, shown: string): Deno.TcpListener {
  try {
    return Deno.listen({ transport: "tcp", hostname, port });
  } catch (e) {
    throw new Error(
      `the status server cannot listen on ${shown}: ${e instanceof Error ? e.message : String(e)}`,
      { cause: e },
    );
  }
}

/**
 * Listens on a unix socket at `path`, mode 0600. Its directory is the caller's (the agent holds
 * the state directory's lock), so a socket already there was left by an agent that is gone and
 * is removed; anything else there is an error and is left alone.
 */
export function listenSocket(path: string): Deno.UnixListener {
  try {
    if (!Deno.lstatSync(path).isSocket) {
      throw new Error(`${path} exists and is not a socket; not touching it`);
    }
    Deno.removeSync(path);
  } catch (e) {
    if (!(e instanceof Deno.errors.NotFound)) throw e;
  }
  // The state directory (0700) already keeps others out; the socket's own mode is the second
  // lock, for a directory someone opened up.
  let listener: Deno.UnixListener;
  try {
    listener = Deno.listen({ transport: "unix", path });
  } catch (e) {
    // A path over the system's limit (108 bytes on Linux) is the likely one: say which path.
    throw new Error(
      `the control socket cannot listen on ${path}: ${e instanceof Error ? e.message : e}`,
      { cause: e },
    );
  }
  try {
    Deno.chmodSync(path, 0o600);
  } catch (e) {
    listener.close();
    throw e;
  }
  return listener;
}
