/**
 * The DNS server's sockets: the FFI ones (Linux) and the `node:dgram` ones (elsewhere, and the
 * forwarder) answer `dig` alike, with no unstable Deno API; a server that cannot listen, or that
 * was asked to forward and cannot, fails to start, names why and leaves nothing open (Deno's op
 * and resource sanitizers are on).
 */
import assert from "node:assert/strict";
import { type DnsUdp, serveDns } from "../../lib/dns/server.ts";
import { buildQuery, decodeMessage, DnsType, Rcode } from "../../lib/dns/wire.ts";
import type { Member, MembershipView } from "../../lib/members/member.ts";
import { member } from "../fixtures/members.ts";
import { haveCommands } from "../fixtures/netns.ts";
import { ownSocketsOnPort } from "../fixtures/own_sockets.ts";

const DIG_OK = await haveCommands("dig");

const KINDS: DnsUdp[] = Deno.build.os === "linux" ? ["linux", "node"] : ["node"];

const members: Member[] = [member("alpha", "10.200.0.1")];
for (let i = 1; i <= 60; i++) {
  members.push(
    member(`bulk${i}`, `10.200.9.${i}`, {
      services: [{ name: "big", port: 9000 + i, protocol: "tcp" }],
    }),
  );
}
const view: MembershipView = { network: "10.200.0.0/16", version: 1, members };
const source = { view: () => view };

async function dig(port: number, ...args: string[]): Promise<string> {
  const out = await new Deno.Command("dig", {
    args: ["@127.0.0.1", "-p", String(port), "+time=3", "+tries=1", ...args],
    stdout: "piped",
    stderr: "piped",
  }).output();
  return new TextDecoder().decode(out.stdout);
}

for (const udp of KINDS) {
  Deno.test({
    name: `dns over ${udp} sockets: answers, TC with the TCP retry, FORMERR for garbage`,
    ignore: !DIG_OK,
    fn: async () => {
      const s = await serveDns({ addresses: ["127.0.0.1"], port: 0, source, udp });
      try {
        const a = await dig(s.port, "alpha.overlay.local", "A", "+notcp");
        assert.match(a, /status: NOERROR/);
        assert.match(a, /^alpha\.overlay\.local\.\s+10\s+IN\s+A\s+10\.200\.0\.1$/m);
        assert.match(a, /\(UDP\)/);
        const big = await dig(s.port, "big.overlay.local", "A", "+notcp", "+bufsize=512");
        assert.match(big, /Truncated, retrying in TCP mode/);
        assert.equal(big.match(/IN\s+A\s+10\.200\.9\./g)?.length, 60);
        assert.ok(s.stats.truncated >= 1);

        // A raw client: a garbled query gets FORMERR; a short datagram gets nothing (counted).
        const client = Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.1", port: 0 });
        try {
          const to = { transport: "udp" as const, hostname: "127.0.0.1", port: s.port };
          const q = buildQuery(0x4242, "alpha.overlay.local.", DnsType.A);
          q[5] = 2; // two questions announced, one present
          await client.send(Uint8Array.of(1, 2, 3), to);
          await client.send(q, to);
          const [answer] = await client.receive();
          const m = decodeMessage(answer);
          assert.ok(m.ok, "a well-formed answer");
          assert.equal(m.message.id, 0x4242);
          assert.equal(m.message.rcode, Rcode.FORMERR);
          assert.ok(s.stats.dropped >= 1 && s.stats.malformed >= 1);
        } finally {
          client.close();
        }
      } finally {
        await s.close();
      }
    },
  });
}

for (const udp of KINDS) {
  Deno.test({
    name: `dns over ${udp}: a bind failing half-way names where, frees the rest`,
    ignore: Deno.build.os !== "linux", // the check reads /proc
    fn: async () => {
      // TCP 127.0.0.2:P is taken: the UDP and TCP sockets already bound on 127.0.0.1:P and UDP on
      // 127.0.0.2:P must be closed again.
      const squatter = Deno.listen({ hostname: "127.0.0.2", port: 0 });
      const port = (squatter.addr as Deno.NetAddr).port;
      try {
        await assert.rejects(
          serveDns({ addresses: ["127.0.0.1", "127.0.0.2"], port, source, udp }),
          new RegExp(`cannot listen on tcp 127\\.0\\.0\\.2 port ${port}: .*in use`, "i"),
        );
        // Only the squatter is left on the port. Binding the port again to see it free would
        // fail now and then in CI: another process's socket may take the port once it is free.
        const left = ownSocketsOnPort(port);
        assert.equal(left.length, 1, `still open: ${left.join(", ")}`);
        assert.match(left[0], /^tcp 0200007F:/);
      } finally {
        squatter.close();
      }
    },
  });
}

Deno.test("dns: forwarding that cannot read its resolvers does not start", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await assert.rejects(
      serveDns({
        addresses: ["127.0.0.1"],
        port: 0,
        source,
        forward: true,
        resolvConf: `${dir}/missing.conf`,
      }),
      /DNS forwarding: cannot read .*missing\.conf: NotFound/,
    );
    await Deno.writeTextFile(`${dir}/empty.conf`, "search example.com\n# no nameserver\n");
    await assert.rejects(
      serveDns({
        addresses: ["127.0.0.1"],
        port: 0,
        source,
        forward: true,
        resolvConf: `${dir}/empty.conf`,
      }),
      /DNS forwarding: .*empty\.conf names no usable nameserver/,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
