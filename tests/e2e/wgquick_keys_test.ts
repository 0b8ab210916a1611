/**
 * `weft up` with wg-quick's keys around the interface, as root in a namespace of its own: the
 * four hooks at wg-quick's moments with `%i`, routes into `Table = <n>` or none with `Table =
 * off`, `FwMark` on the UDP socket (ss, wg show), `DNS` handed to resolvconf and taken back,
 * failing hooks stopping the start, and `DNS` refused where no resolvconf exists.
 */
import assert from "node:assert/strict";
import { canBuildLabs, haveCommands, Lab } from "../fixtures/netns.ts";
import { selfCommand } from "../../lib/demo/self.ts";
import { generateKeyPair } from "../../lib/crypto/keys.ts";
import { findExecutable } from "../../lib/agent/commands.ts";

const ignore = !(await canBuildLabs()) || !(await haveCommands("bash", "ss", "wg"));
// By its path: one test runs weft with a PATH that holds nothing.
const IP = findExecutable("ip") ?? "ip";

/** A `weft up` process in the lab, its output, and when it said the interface is up. */
interface Up {
  child: Deno.ChildProcess;
  output: () => string;
  /** Resolves true once `interface up` is logged, false if the process exits first. */
  up: Promise<boolean>;
}

/** The `weft up` processes still running, killed when their lab goes. */
const running = new Set<Deno.ChildProcess>();

function weftUp(lab: Lab, file: string, env: Record<string, string> = {}): Up {
  const [cmd, ...pre] = selfCommand();
  const child = new Deno.Command(IP, {
    args: ["netns", "exec", lab.host("a").ns, cmd, ...pre, "up", file, "--no-status"],
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
    env,
  }).spawn();
  running.add(child);
  child.status.then(() => running.delete(child));
  let out = "";
  const dec = new TextDecoder();
  let said: (v: boolean) => void = () => {};
  const up = new Promise<boolean>((r) => said = r);
  const sink = () =>
    new WritableStream<Uint8Array>({
      write: (c) => {
        out += dec.decode(c);
        if (out.includes("interface up")) said(true);
      },
    });
  const pumps = Promise.all([child.stdout.pipeTo(sink()), child.stderr.pipeTo(sink())]);
  child.status.then(() => pumps.catch(() => {})).then(() => said(false));
  return { child, output: () => out, up };
}

function conf(name: string, extra: string): string {
  return [
    "[Interface]",
    `PrivateKey = ${generateKeyPair().privateKey}`,
    "Address = 10.80.0.1/24",
    "ListenPort = 51820",
    extra,
    "[Peer]",
    `PublicKey = ${generateKeyPair().publicKey}`,
    "Endpoint = 192.0.2.9:51820",
    "AllowedIPs = 10.81.0.0/16",
    "",
  ].join("\n").replaceAll("IFACE", name);
}

async function read(path: string): Promise<string | null> {
  try {
    return await Deno.readTextFile(path);
  } catch {
    return null;
  }
}

async function withLab(body: (lab: Lab, dir: string, iface: string) => Promise<void>) {
  const lab = await Lab.create(["a"]);
  const dir = await Deno.makeTempDir({ prefix: "weft-wgq-e2e-" });
  try {
    await body(lab, dir, `wq${lab.tag}`);
  } finally {
    for (const child of running) {
      child.kill("SIGKILL");
      await child.status;
    }
    await lab.destroy();
    await Deno.remove(dir, { recursive: true });
  }
}

async function linkExists(lab: Lab, iface: string): Promise<boolean> {
  return (await lab.exec("a", "ip", "link", "show", "dev", iface)).code === 0;
}

Deno.test({
  name: "weft up: hooks with %i at wg-quick's moments, Table = <n>, FwMark, DNS via resolvconf",
  ignore,
  sanitizeResources: false,
  sanitizeOps: false,
  fn: () =>
    withLab(async (lab, dir, iface) => {
      // A resolvconf that records how it was called, first on PATH.
      const bin = `${dir}/bin`;
      await Deno.mkdir(bin);
      await Deno.writeTextFile(
        `${bin}/resolvconf`,
        `#!/bin/bash\n{ echo "args $*"; cat | sed 's/^/in /'; } >> ${dir}/resolvconf.log\n`,
        { mode: 0o755 },
      );
      const present = (tag: string) =>
        `if ip link show %i >/dev/null 2>&1; then echo "present %i"; else echo "absent %i"; fi > ${dir}/${tag}`;
      const file = `${dir}/${iface}.conf`;
      await Deno.writeTextFile(
        file,
        conf(
          iface,
          [
            "Table = 1234",
            "FwMark = 0xca6c",
            "DNS = 10.80.0.53, corp.example",
            `PreUp = ${present("preup")}`,
            `PostUp = ip -o addr show dev %i > ${dir}/postup`,
            `PostUp = echo second >> ${dir}/postup`,
            `PreDown = ${present("predown")}`,
            `PostDown = ${present("postdown")}`,
          ].join("\n"),
        ),
        { mode: 0o600 },
      );
      const w = weftUp(lab, file, { PATH: `${bin}:${Deno.env.get("PATH")}` });
      assert.ok(await w.up, w.output());

      // PreUp ran before the interface existed; PostUp once it was up with its address.
      assert.equal(await read(`${dir}/preup`), `absent ${iface}\n`);
      const postUp = (await read(`${dir}/postup`)) ?? "";
      assert.match(postUp, new RegExp(`${iface}\\s+inet 10\\.80\\.0\\.1/24`));
      assert.match(postUp, /\nsecond\n$/, "PostUp lines run in order");

      // Table = 1234: the peer's allowed IPs are routed there, not in the main table.
      const t1234 = await lab.run("a", "ip", "route", "show", "table", "1234");
      assert.match(t1234, new RegExp(`10\\.81\\.0\\.0/16 dev ${iface}`));
      const main = await lab.run("a", "ip", "route", "show", "table", "main");
      assert.doesNotMatch(main, /10\.81\.0\.0/);

      // FwMark: on the socket, and as wg reads it through the UAPI.
      const ss = await lab.run("a", "ss", "-u", "-a", "-n", "-e", "sport", "=", ":51820");
      assert.match(ss, /fwmark:0xca6c/);
      assert.equal((await lab.run("a", "wg", "show", iface, "fwmark")).trim(), "0xca6c");

      // DNS: the interface's record handed to resolvconf as wg-quick does.
      assert.equal(
        await read(`${dir}/resolvconf.log`),
        `args -a ${iface} -m 0 -x\nin nameserver 10.80.0.53\nin search corp.example\n`,
      );

      w.child.kill("SIGTERM");
      assert.equal((await w.child.status).code, 0, w.output());
      assert.equal(await read(`${dir}/predown`), `present ${iface}\n`);
      assert.equal(await read(`${dir}/postdown`), `absent ${iface}\n`);
      assert.match(
        (await read(`${dir}/resolvconf.log`)) ?? "",
        new RegExp(`args -d ${iface} -f\n$`),
      );
      assert.equal(await linkExists(lab, iface), false);
    }),
});

Deno.test({
  name: "weft up: Table = off adds no route for the peers' allowed IPs",
  ignore,
  sanitizeResources: false,
  sanitizeOps: false,
  fn: () =>
    withLab(async (lab, dir, iface) => {
      const file = `${dir}/${iface}.conf`;
      await Deno.writeTextFile(file, conf(iface, "Table = off"), { mode: 0o600 });
      const w = weftUp(lab, file);
      assert.ok(await w.up, w.output());
      const all = await lab.run("a", "ip", "route", "show", "table", "all");
      assert.doesNotMatch(all, /10\.81\.0\.0/);
      // The address and its own subnet are there: only the peers' routes are left out.
      assert.match(
        await lab.run("a", "ip", "-o", "addr", "show", "dev", iface),
        /10\.80\.0\.1\/24/,
      );
      w.child.kill("SIGTERM");
      assert.equal((await w.child.status).code, 0, w.output());
    }),
});

Deno.test({
  name: "weft up: a failing PreUp or PostUp stops the start (exit 1) and leaves no interface",
  ignore,
  sanitizeResources: false,
  sanitizeOps: false,
  fn: () =>
    withLab(async (lab, dir, iface) => {
      const file = `${dir}/${iface}.conf`;
      // PreUp fails: the interface is never made, later hooks never run.
      await Deno.writeTextFile(
        file,
        conf(iface, `PreUp = exit 3\nPostUp = touch ${dir}/postup\nPostDown = touch ${dir}/pd`),
        { mode: 0o600 },
      );
      let w = weftUp(lab, file);
      assert.equal(await w.up, false);
      assert.equal((await w.child.status).code, 1, w.output());
      assert.match(w.output(), /weft: PreUp hook 1 of 1 failed \(exit 3\)/);
      assert.equal(await read(`${dir}/postup`), null);
      assert.equal(await linkExists(lab, iface), false);

      // PostUp fails: the interface that was up is removed again, without the down hooks.
      await Deno.writeTextFile(
        file,
        conf(iface, `PostUp = true\nPostUp = kill -9 $$\nPostDown = touch ${dir}/pd`),
        { mode: 0o600 },
      );
      w = weftUp(lab, file);
      assert.equal(await w.up, false);
      assert.equal((await w.child.status).code, 1, w.output());
      assert.match(w.output(), /weft: PostUp hook 2 of 2 failed \(killed by SIGKILL\)/);
      assert.equal(await linkExists(lab, iface), false);
      assert.equal(await read(`${dir}/pd`), null);
    }),
});

Deno.test({
  name: "weft up: DNS without resolvconf is refused (exit 2) before anything is made",
  ignore,
  sanitizeResources: false,
  sanitizeOps: false,
  fn: () =>
    withLab(async (lab, dir, iface) => {
      const empty = `${dir}/empty`;
      await Deno.mkdir(empty);
      const file = `${dir}/${iface}.conf`;
      await Deno.writeTextFile(file, conf(iface, "DNS = 10.80.0.53"), { mode: 0o600 });
      const w = weftUp(lab, file, { PATH: empty });
      assert.equal(await w.up, false);
      assert.equal((await w.child.status).code, 2, w.output());
      assert.match(w.output(), /DNS: setting the system's resolvers needs resolvconf/);
      assert.equal(await linkExists(lab, iface), false);
    }),
});
