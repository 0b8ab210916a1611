/**
 * The browser build's lib/io/tcp_probe.ts: a page opens no TCP connection, so a `tcp://` health
 * check fails (a page provides no service anyway).
 * @module
 */

/** Always false in a page. */
export function tcpConnects(_host: string, _port: number, _timeoutMs: number): Promise<boolean> {
  return Promise.resolve(false);
}
