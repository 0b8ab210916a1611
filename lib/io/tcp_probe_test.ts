import assert from "node:assert/strict";
import { tcpConnects } from "./tcp_probe.ts";

Deno.test("tcpConnects: true for a listening port, false for a closed one", async () => {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const accepted = listener.accept().then((c) => c.close());
  assert.equal(await tcpConnects("127.0.0.1", listener.addr.port, 5000), true);
  await accepted;
  const closedPort = listener.addr.port;
  listener.close();
  assert.equal(await tcpConnects("127.0.0.1", closedPort, 5000), false);
});
