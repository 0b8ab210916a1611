/**
 * The NAT lab behaves like the NATs users meet: a LAN host reaches the internet through its
 * router's public address; an unsolicited datagram from the internet is dropped; two hosts behind
 * port-preserving NATs that send to each other at once get through (a punched hole), through the
 * routers (their counters say so); behind --random-fully NATs they never do; no router hairpins.
 */
import assert from "node:assert/strict";
import { canBuildLabs, eventually, HANG_GUARD_MS } from "../fixtures/netns.ts";
import { NatLab } from "../fixtures/nat_lab.ts";

const skip = !(await canBuildLabs());
const PUNCH = new URL("../fixtures/udp_punch.ts", import.meta.url).pathname;

interface Heard {
  from: string;
  text: string;
}

async function punch(
  lab: NatLab,
  host: string,
  port: number,
  seconds: number,
  targets: string[],
): Promise<Heard[]> {
  const r = await lab.exec(
    host,
    Deno.execPath(),
    "run",
    "-A",
    "--unstable-net",
    PUNCH,
    String(port),
    String(seconds),
    ...targets,
  );
  if (r.code !== 0) throw new Error(`punch on ${host} failed: ${r.stderr}`);
  return r.stdout.trim().split("\n").filter((l) => l).map((l) => JSON.parse(l));
}

for (const nat of ["masquerade", "random-fully"] as const) {
  Deno.test({
    name: `nat lab (${nat}): outbound is translated, unsolicited is dropped, punching ${
      nat === "masquerade" ? "works" : "fails"
    }`,
    ignore: skip,
    sanitizeResources: false,
    sanitizeOps: false,
    async fn() {
      const lab = await NatLab.create({
        internet: ["pub"],
        sites: { a: { nat, hosts: ["a1", "a2"] }, b: { nat, hosts: ["b1"] } },
      });
      try {
        const pub = lab.host("pub").ip;
        const ra = lab.router("a");
        const rb = lab.router("b");
        // Outbound: the public host hears a1 from its router's WAN address.
        const [heardAtPub] = await Promise.all([
          punch(lab, "pub", 4000, 2, []),
          punch(lab, "a1", 4001, 1, [`${pub}:4000`]),
        ]);
        assert.ok(heardAtPub.length > 0, "pub heard a1");
        assert.ok(heardAtPub.every((h) => h.from.startsWith(`${ra.wan}:`)), heardAtPub[0].from);
        if (nat === "masquerade") assert.equal(heardAtPub[0].from, `${ra.wan}:4001`);
        // Unsolicited: pub sends to router b's address on b1's port; nothing reaches b1.
        const [heardAtB1] = await Promise.all([
          punch(lab, "b1", 4002, 2, []),
          punch(lab, "pub", 4003, 1, [`${rb.wan}:4002`]),
        ]);
        assert.equal(heardAtB1.length, 0);
        // Punching: a1 and b1 send to each other's public mapping at once.
        const before = await lab.counters("b");
        const [atA1, atB1] = await Promise.all([
          punch(lab, "a1", 4004, 2, [`${rb.wan}:4005`]),
          punch(lab, "b1", 4005, 2, [`${ra.wan}:4004`]),
        ]);
        const after = await lab.counters("b");
        if (nat === "masquerade") {
          assert.ok(atA1.length > 0 && atB1.length > 0, "both heard each other");
          assert.ok(after.inbound > before.inbound, "through router b");
        } else {
          assert.equal(atA1.length + atB1.length, 0, "symmetric NATs: no hole");
        }
        // No hairpin: a1 sending to its own router's public address never reaches a2.
        const [atA2] = await Promise.all([
          punch(lab, "a2", 4006, 2, []),
          punch(lab, "a1", 4007, 1, [`${ra.wan}:4006`]),
        ]);
        assert.equal(atA2.length, 0);
        assert.ok((await lab.counters("a")).hairpin > 0, "hairpin attempts counted");
      } finally {
        await lab.destroy();
      }
    },
  });
}

const TAP = new URL("../fixtures/udp_tap.ts", import.meta.url).pathname;

Deno.test({
  name: "nat lab: per-source counters, zeroing, port remapping, a flooding internet, spoofing",
  ignore: skip,
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const lab = await NatLab.create({
      internet: ["pub", "evil"],
      sites: {
        a: { nat: "masquerade", hosts: ["a1", "a2"] },
        b: { nat: "masquerade", hosts: ["b1"] },
      },
    });
    // A capture of one datagram, up to the hang guard; and its start (the socket open), waited
    // for before anything is sent (a fixed second was a guess at a process's start).
    const capture = (host: string, what: string) =>
      lab.spawn(host, Deno.execPath(), [
        ...["run", "-A", TAP, "capture", String(HANG_GUARD_MS / 1000), "count=1", what],
      ]);
    const capturing = async (tap: ReturnType<typeof capture>) =>
      assert.ok(
        await eventually(() => Promise.resolve(tap.output().includes("capturing")), HANG_GUARD_MS),
        tap.output(),
      );
    try {
      const pub = lab.host("pub").ip;
      const ra = lab.router("a");
      const rb = lab.router("b");
      const a1 = lab.host("a1").ip;
      assert.equal(await lab.countFrom("b", ra.wan, { to: "lan" }), 0, "a new counter");
      assert.equal(await lab.countFrom("a", a1, { to: "wan", notTo: pub }), 0);
      assert.equal(await lab.countFrom("a", a1), 0);
      await Promise.all([
        punch(lab, "a1", 4010, 2, [`${rb.wan}:4011`, `${pub}:4012`]),
        punch(lab, "b1", 4011, 2, [`${ra.wan}:4010`]),
        punch(lab, "pub", 4012, 2, []),
      ]);
      assert.ok(await lab.countFrom("b", ra.wan, { to: "lan" }) > 0, "from a's router into b");
      assert.equal(await lab.countFrom("b", rb.wan, { to: "lan" }), 0, "a new counter again");
      const toB = await lab.countFrom("a", a1, { to: "wan", notTo: pub });
      const all = await lab.countFrom("a", a1);
      assert.ok(toB > 0 && all > toB, `${toB} to b of ${all} from a1 (also to pub)`);
      await lab.zeroCounters("a");
      assert.equal(await lab.countFrom("a", a1), 0, "zeroed");
      assert.equal((await lab.counters("a")).outbound, 0, "the lab's own counters too");

      // Rebinding: a1's next datagram leaves from another public port.
      await lab.remapPorts("a", 40000, 40009);
      const [heard] = await Promise.all([
        punch(lab, "pub", 4013, 2, []),
        punch(lab, "a1", 4010, 1, [`${pub}:4013`]),
      ]);
      const port = Number(heard[0].from.split(":")[1]);
      assert.ok(heard[0].from.startsWith(`${ra.wan}:`) && port >= 40000 && port <= 40009);

      // A flooding internet: evil sees a datagram from a1 to pub, captured whole.
      await lab.floodInternet();
      const tap = capture("evil", "0x13");
      await capturing(tap);
      const ping = new Uint8Array(88);
      ping[0] = 0x13;
      await lab.exec(
        "a1",
        Deno.execPath(),
        "run",
        "-A",
        TAP,
        "send",
        "0.0.0.0:4020",
        `${pub}:4021`,
        btoa(String.fromCharCode(...ping)),
      );
      await tap.child.status;
      const seen = tap.output().trim().split("\n").filter((l) => l.startsWith("{")).map((l) =>
        JSON.parse(l)
      );
      assert.equal(seen.length, 1, tap.output());
      assert.equal(seen[0].dst, `${pub}:4021`);
      assert.ok(seen[0].src.startsWith(`${ra.wan}:`));
      assert.equal(atob(seen[0].data).length, 88);

      // Multicast on a site's LAN reaches every host of it (no snooping switch in the way).
      const lanTap = capture("a2", "port=51822");
      await capturing(lanTap);
      await lab.exec(
        "a1",
        Deno.execPath(),
        "run",
        "-A",
        TAP,
        "send",
        `${a1}:51822`,
        "239.255.82.21:51822",
        btoa("weftLAN1 hello"),
      );
      await lanTap.child.status;
      assert.match(lanTap.output(), new RegExp(`"src":"${a1}:51822","dst":"239.255.82.21:51822"`));

      // Spoofing: evil sends as 203.0.113.1 (pub's address here) and pub's own traffic still flows.
      await lab.addSpoofAddress("evil", pub);
      const forged = Array.from({ length: 40 }, () => btoa("forged"));
      const [atB1] = await Promise.all([
        punch(lab, "b1", 4030, 3, [`${pub}:4031`]),
        new Promise((r) => setTimeout(r, 500)).then(() =>
          lab.exec(
            "evil",
            Deno.execPath(),
            "run",
            "-A",
            TAP,
            "send",
            `${pub}:4031`,
            `${rb.wan}:4030`,
            ...forged,
          )
        ),
      ]);
      assert.ok(atB1.some((h) => h.text === "forged" && h.from === `${pub}:4031`), "spoofed");
      const [atPub] = await Promise.all([
        punch(lab, "pub", 4032, 2, []),
        punch(lab, "b1", 4033, 1, [`${pub}:4032`]),
      ]);
      assert.ok(atPub.length > 0, "the real host still gets its traffic");
    } finally {
      await lab.destroy();
    }
  },
});
