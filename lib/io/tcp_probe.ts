/**
 * Whether a TCP port takes a connection (a service's health check): the one place the layers
 * above open a TCP connection only to close it, so a build for a platform without raw TCP swaps
 * this module alone (the browser build: lib/browser/platform/tcp_probe.ts).
 * @module
 */

/** True when `host:port` accepted a TCP connection within `timeoutMs` (closed at once). */
export async function tcpConnects(host: string, port: number, timeoutMs: number): Promise<boolean> {
  const connecting = Deno.connect({ hostname: host, port });
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<null>((r) => timer = setTimeout(() => r(null), timeoutMs));
  try {
    const conn = await Promise.race([connecting, late]);
    if (conn === null) {
      // Closed if it still comes.
      connecting.then((c) => c.close(), () => {});
      return false;
    }
    conn.close();
    return true;
  } catch {
    return false;
  } finally {
    clearTimeout(timer);
  }
}
