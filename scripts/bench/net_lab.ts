/**
 * The network lab of the benchmark: which implementations to measure (weft, the `wireguard-go` on
 * PATH, and any other wireguard-go build), and a tunnel between two namespaces with the same
 * implementation on both ends, torn down whatever happens.
 * @module
 */

import { Lab, sh } from "../../tests/fixtures/netns.ts";
import {
  type LabNode,
  type LabNodeSpec,
  startWeft,
  startWireguardGo,
} from "../../tests/fixtures/wg_lab.ts";
import { generateKeyPair } from "../../lib/crypto/keys.ts";

/** One implementation to measure; both ends of its tunnel run it. */
export interface Build {
  /** Its column in the tables. */
  name: string;
  /** weft (this checkout, TUN mode) or a wireguard-go binary. */
  kind: "weft" | "wireguard-go";
  /** The wireguard-go binary (absent for weft). */
  binary?: string;
  /** What the binary says it is (its `--version`), for the record. */
  version: string;
}

/**
 * Where the offloading wireguard-go build is kept next to the checkouts (see
 * `../shared/tools/README.md`): measured by default when present, so one plain run compares weft
 * with the fastest userspace WireGuard too.
 */
export const DEFAULT_EXTRA_WG_GO = [
  decodeURIComponent(
    new URL("../../../shared/tools/wireguard-go-offload", import.meta.url).pathname,
  ),
];

/** The overlay MTU of every tunnel in the lab (weft's default; wireguard-go is set to it). */
export const LAB_MTU = 1420;

async function version(binary: string): Promise<string> {
  try {
    const r = await sh(binary, "--version");
    return r.stdout.split("\n")[0].trim() || "?";
  } catch {
    return "?";
  }
}

async function isExecutableFile(path: string): Promise<boolean> {
  try {
    const st = await Deno.stat(path);
    return st.isFile && ((st.mode ?? 0) & 0o111) !== 0;
  } catch {
    return false;
  }
}

/**
 * The wireguard-go binaries a path names: the file itself, or the executables called
 * `wireguard-go*` in a folder (the tools folder may hold a license and a README beside it).
 */
async function binariesAt(path: string): Promise<string[]> {
  let st: Deno.FileInfo;
  try {
    st = await Deno.stat(path);
  } catch {
    return [];
  }
  if (!st.isDirectory) return (await isExecutableFile(path)) ? [path] : [];
  const found: string[] = [];
  for await (const e of Deno.readDir(path)) {
    const p = `${path}/${e.name}`;
    if (e.name.startsWith("wireguard-go") && await isExecutableFile(p)) found.push(p);
  }
  return found.sort();
}

/**
 * The builds to measure: weft, the Debian `wireguard-go` on PATH (when there is one), then every
 * path of `wgGo` (colon-separated, as `WG_GO`), or {@link DEFAULT_EXTRA_WG_GO} when it is unset.
 * `notes` says what was found and what was not, so a missing build is never silently left out.
 */
export async function findBuilds(
  wgGo: string | undefined = Deno.env.get("WG_GO"),
): Promise<{ builds: Build[]; notes: string[] }> {
  const builds: Build[] = [{ name: "weft", kind: "weft", version: "this checkout, TUN mode" }];
  const notes: string[] = [];
  const seen = new Set<string>();
  const onPath = (await sh("sh", "-c", "command -v wireguard-go")).stdout.trim();
  if (onPath) {
    const real = await Deno.realPath(onPath);
    seen.add(real);
    builds.push({ name: "wireguard-go", kind: "wireguard-go", binary: onPath, version: "" });
  } else {
    notes.push("no wireguard-go on PATH");
  }
  const paths = wgGo === undefined ? DEFAULT_EXTRA_WG_GO : wgGo.split(":").filter((p) => p);
  for (const p of paths) {
    const bins = await binariesAt(p);
    if (bins.length === 0) notes.push(`${p}: no wireguard-go binary there`);
    for (const bin of bins) {
      const real = await Deno.realPath(bin);
      if (seen.has(real)) continue;
      seen.add(real);
      let name = bin.slice(bin.lastIndexOf("/") + 1);
      // Two builds with one file name (two folders) still need two columns.
      while (builds.some((b) => b.name === name)) name += "'";
      builds.push({ name, kind: "wireguard-go", binary: bin, version: "" });
    }
  }
  for (const b of builds) {
    if (b.binary) {
      b.version = await version(b.binary);
      notes.push(`${b.name}: ${b.binary} (${b.version})`);
    }
  }
  return { builds, notes };
}

/** Two namespaces with a tunnel between them, `a` sending to `b` at `target`. */
export interface Tunnel {
  lab: Lab;
  /** The sending end (iperf3 client, ping). */
  a: LabNode;
  /** The receiving end (iperf3 server). */
  b: LabNode;
  /** b's overlay address. */
  target: string;
}

/**
 * Builds a lab of two hosts (names carry the lab's random tag, so concurrent runs never meet),
 * starts `build` on both, runs `fn`, and always stops the agents and deletes the namespaces and
 * the temporary folder, even when starting or `fn` fails; `v8Flags`: weft with these V8 flags
 * instead of its own.
 */
export async function withTunnel<T>(
  build: Build,
  extraWeftArgs: string[],
  fn: (t: Tunnel) => Promise<T>,
  v8Flags?: readonly string[],
): Promise<T> {
  const lab = await Lab.create(["a", "b"]);
  let dir: string | undefined;
  try {
    dir = await Deno.makeTempDir({ prefix: "weft-bench-" });
    const ka = generateKeyPair();
    const kb = generateKeyPair();
    const spec = (host: string, i: number, me: typeof ka, them: typeof kb): LabNodeSpec => ({
      host,
      iface: `wn${host}${lab.tag}`,
      privateKey: me.privateKey,
      address: `10.79.0.${i}/24`,
      port: 51820,
      peers: [{
        publicKey: them.publicKey,
        endpoint: `192.0.2.${3 - i}:51820`,
        allowedIps: [`10.79.0.${3 - i}/32`],
      }],
    });
    const d = dir;
    const start = (s: LabNodeSpec): Promise<LabNode> =>
      build.kind === "weft"
        ? startWeft(lab, d, s, extraWeftArgs, v8Flags)
        : startWireguardGo(lab, d, s, { binary: build.binary });
    const a = await start(spec("a", 1, ka, kb));
    const b = await start(spec("b", 2, kb, ka));
    return await fn({ lab, a, b, target: "10.79.0.2" });
  } finally {
    await lab.destroy();
    if (dir) await Deno.remove(dir, { recursive: true });
  }
}
