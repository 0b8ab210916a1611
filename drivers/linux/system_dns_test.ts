import assert from "node:assert/strict";
import { join } from "node:path";
import { LinuxSystemDns } from "./system_dns.ts";
import type { CommandResult } from "./host_commands.ts";
import type { SavedSystemDns, SystemDnsKeep } from "../../lib/net/system_dns.ts";
import { tempDirs } from "../../tests/fixtures/temp_dir.ts";

const SETTINGS = { iface: "weft0", server: "10.9.0.7", zone: "overlay.local" };

/** A keep in memory. */
class MemoryKeep implements SystemDnsKeep {
  saved: SavedSystemDns | null = null;
  load = () => Promise.resolve(this.saved && structuredClone(this.saved));
  save = (s: SavedSystemDns) => {
    this.saved = structuredClone(s);
    return Promise.resolve();
  };
  clear = () => {
    this.saved = null;
    return Promise.resolve();
  };
}

/** Records commands and answers them with `code`. */
class FakeHost {
  calls: { cmd: string; args: string[]; input?: string }[] = [];
  code = 0;
  stderr = "";
  run = (cmd: string, args: string[], input?: string): Promise<CommandResult> => {
    this.calls.push({ cmd, args, ...(input !== undefined ? { input } : {}) });
    return Promise.resolve({ code: this.code, stdout: "", stderr: this.stderr });
  };
}

const withDir = tempDirs("weft-system-dns-");

Deno.test("file mode: rewritten in place, put back byte for byte, saved before the change", () =>
  withDir(async (dir) => {
    const path = join(dir, "resolv.conf");
    const original = new Uint8Array([
      ...new TextEncoder().encode("nameserver 192.0.2.53\nsearch lab.example\n# "),
      0xff,
      0xfe,
      0x0a,
    ]);
    await Deno.writeFile(path, original);
    // A hard link stands for a bind mount: a rename over the path would leave it behind.
    const mount = join(dir, "mounted");
    await Deno.link(path, mount);
    const keep = new MemoryKeep();
    const dns = new LinuxSystemDns({ keep, path, findTool: () => null });
    const host = await dns.detect();
    assert.deepEqual(host, { mode: "file", nameservers: ["192.0.2.53"] });
    await dns.apply(SETTINGS, host.mode);
    const now = await Deno.readTextFile(mount);
    assert.match(now, /^nameserver 10\.9\.0\.7$/m);
    assert.match(now, /^search lab\.example overlay\.local$/m, "the host's domains first");
    assert.equal(keep.saved?.mode, "file");
    assert.deepEqual(await dns.restore(), { mode: "file" });
    assert.deepEqual(await Deno.readFile(mount), original);
    assert.equal(keep.saved, null);
    assert.equal(await dns.restore(), null, "nothing left to put back");
  }));

Deno.test("file mode: a file changed after weft wrote it is left alone", () =>
  withDir(async (dir) => {
    const path = join(dir, "resolv.conf");
    await Deno.writeTextFile(path, "nameserver 192.0.2.53\n");
    const keep = new MemoryKeep();
    const dns = new LinuxSystemDns({ keep, path, findTool: () => null });
    await dns.apply(SETTINGS, "file");
    await Deno.writeTextFile(path, "nameserver 198.51.100.53\n");
    const r = await dns.restore();
    assert.equal(r?.mode, "file");
    assert.match(r?.leftAlone ?? "", /changed since weft wrote it/);
    assert.equal(await Deno.readTextFile(path), "nameserver 198.51.100.53\n");
    assert.equal(keep.saved, null);
  }));

Deno.test("file mode: a crashed run's change is put back by a new instance", () =>
  withDir(async (dir) => {
    const path = join(dir, "resolv.conf");
    await Deno.writeTextFile(path, "nameserver 192.0.2.53\n");
    const keep = new MemoryKeep();
    await new LinuxSystemDns({ keep, path, findTool: () => null }).apply(SETTINGS, "file");
    const next = new LinuxSystemDns({ keep, path, findTool: () => null });
    assert.deepEqual(await next.restore(), { mode: "file" });
    assert.equal(await Deno.readTextFile(path), "nameserver 192.0.2.53\n");
  }));

Deno.test("resolved mode: per-link server, the zone a routing domain only, not the default route", () =>
  withDir(async (dir) => {
    const path = join(dir, "resolv.conf");
    const stub = "# This file is managed by man:systemd-resolved(8).\nnameserver 127.0.0.53\n";
    await Deno.writeTextFile(path, stub);
    const host = new FakeHost();
    const keep = new MemoryKeep();
    const dns = new LinuxSystemDns({
      keep,
      path,
      resolvedRuntime: dir,
      findTool: (n) => `/usr/bin/${n}`,
      run: host.run,
    });
    const found = await dns.detect();
    assert.equal(found.mode, "resolved");
    await dns.apply(SETTINGS, found.mode);
    assert.deepEqual(host.calls.map((c) => [c.cmd, ...c.args].join(" ")), [
      "/usr/bin/resolvectl dns weft0 10.9.0.7",
      // No search domain on the link: resolved would race it against the host's own.
      "/usr/bin/resolvectl domain weft0 ~overlay.local",
      "/usr/bin/resolvectl default-route weft0 false",
    ]);
    assert.equal(await Deno.readTextFile(path), stub, "the file is resolved's, untouched");
    host.calls = [];
    assert.deepEqual(await dns.restore(), { mode: "resolved" });
    assert.deepEqual(host.calls.map((c) => c.args.join(" ")), ["revert weft0"]);
    // A link already gone has nothing to revert.
    await keep.save({ mode: "resolved", iface: "weft0" });
    host.code = 1;
    host.stderr = 'Failed to resolve interface "weft0": No such device\n';
    assert.deepEqual(await dns.restore(), { mode: "resolved" });
  }));

Deno.test("resolved mode: a failing resolvectl is an error naming it", () =>
  withDir(async (dir) => {
    const host = new FakeHost();
    host.code = 1;
    host.stderr = "Failed to set DNS configuration: Access denied\n";
    const dns = new LinuxSystemDns({
      keep: new MemoryKeep(),
      path: join(dir, "resolv.conf"),
      findTool: (n) => `/usr/bin/${n}`,
      run: host.run,
    });
    await assert.rejects(
      () => dns.apply(SETTINGS, "resolved"),
      /resolvectl dns weft0 10\.9\.0\.7: Failed to set DNS configuration: Access denied/,
    );
  }));

Deno.test("resolvconf mode: a record for the interface, named by the interface order", () =>
  withDir(async (dir) => {
    const path = join(dir, "resolv.conf");
    await Deno.writeTextFile(
      path,
      "# Generated by resolvconf\nnameserver 192.0.2.53\nsearch lab.example\n",
    );
    const order = join(dir, "interface-order");
    await Deno.writeTextFile(order, "lo.inet*\ntun*\n");
    const host = new FakeHost();
    const keep = new MemoryKeep();
    const dns = new LinuxSystemDns({
      keep,
      path,
      interfaceOrder: order,
      findTool: (n) => n === "resolvconf" ? "/sbin/resolvconf" : null,
      run: host.run,
    });
    const found = await dns.detect();
    assert.deepEqual(found, { mode: "resolvconf", nameservers: ["192.0.2.53"] });
    await dns.apply(SETTINGS, found.mode);
    assert.deepEqual(host.calls, [{
      cmd: "/sbin/resolvconf",
      args: ["-a", "tun.weft0", "-m", "0", "-x"],
      // The host's search domains before the zone: the record is first in resolvconf's merge.
      input: "nameserver 10.9.0.7\nsearch lab.example overlay.local\n",
    }]);
    assert.deepEqual(keep.saved, { mode: "resolvconf", iface: "weft0", record: "tun.weft0" });
    host.calls = [];
    await dns.restore();
    assert.deepEqual(host.calls.map((c) => c.args), [["-d", "tun.weft0", "-f"]]);
  }));

Deno.test("no resolv.conf: an empty original, and a missing program is named", () =>
  withDir(async (dir) => {
    const path = join(dir, "resolv.conf");
    const keep = new MemoryKeep();
    const dns = new LinuxSystemDns({ keep, path, findTool: () => null });
    assert.deepEqual(await dns.detect(), { mode: "file", nameservers: [] });
    await dns.apply(SETTINGS, "file");
    await dns.restore();
    assert.equal(await Deno.readTextFile(path), "");
    await assert.rejects(() => dns.apply(SETTINGS, "resolvconf"), /resolvconf is not installed/);
  }));
