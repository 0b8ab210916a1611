import assert from "node:assert/strict";
import { join } from "node:path";
import { ConfigError } from "./config_error.ts";
import {
  DEFAULT_UNIT_BINARY,
  installSystemdUnit,
  runningWeftBinary,
  systemdUnit,
  SystemdUnitExistsError,
} from "./systemd.ts";
import { tempDirs } from "../../tests/fixtures/temp_dir.ts";

const COMMITTED = new URL("../../packaging/systemd/weft.service", import.meta.url);

/** The unit's settings by section: `{ Service: { ExecStart: [...] } }` (comments left out). */
function settings(text: string): Record<string, Record<string, string[]>> {
  const out: Record<string, Record<string, string[]>> = {};
  let section = "";
  for (const line of text.split("\n")) {
    if (line === "" || line.startsWith("#")) continue;
    const head = /^\[(\w+)\]$/.exec(line);
    if (head) {
      section = head[1];
      out[section] = {};
      continue;
    }
    const eq = line.indexOf("=");
    assert.ok(section !== "" && eq > 0, `a setting in a section: ${line}`);
    (out[section][line.slice(0, eq)] ??= []).push(line.slice(eq + 1));
  }
  return out;
}

const withTempDir = tempDirs("weft-unit-");

Deno.test("systemd unit: packaging/systemd/weft.service is the unit with the defaults", async () => {
  assert.equal(
    await Deno.readTextFile(COMMITTED),
    systemdUnit(),
    "regenerate it: deno eval \"import { systemdUnit } from './lib/config/mod.ts'; " +
      "Deno.writeTextFileSync('packaging/systemd/weft.service', systemdUnit())\"",
  );
});

Deno.test("systemd unit: runs the agent with its config and state, restarts, keeps only network capabilities", () => {
  const s = settings(systemdUnit());
  assert.deepEqual(Object.keys(s), ["Unit", "Service", "Install"]);
  assert.deepEqual(s.Unit.After, ["network-online.target"]);
  assert.deepEqual(s.Unit.Wants, ["network-online.target"]);
  const svc = s.Service;
  assert.deepEqual(svc.ExecStart, [
    "/usr/local/bin/weft --config /etc/weft/weft.yaml --state-dir /var/lib/weft",
  ]);
  assert.deepEqual(svc.Type, ["exec"]);
  assert.deepEqual(svc.Restart, ["on-failure"]);
  assert.deepEqual(svc.RestartSec, ["5s"]);
  assert.deepEqual(svc.RestartPreventExitStatus, ["2"]);
  assert.deepEqual(svc.StateDirectory, ["weft"]);
  assert.deepEqual(svc.StateDirectoryMode, ["0700"]);
  const caps = "CAP_NET_ADMIN CAP_NET_RAW CAP_NET_BIND_SERVICE";
  assert.deepEqual(svc.CapabilityBoundingSet, [caps]);
  assert.deepEqual(svc.AmbientCapabilities, [caps]);
  assert.equal(svc.User, undefined, "root");
  assert.deepEqual(svc.DevicePolicy, ["closed"]);
  assert.deepEqual(svc.DeviceAllow, ["/dev/net/tun rw"]);
  // What would stop the agent: /etc and /proc/sys read-only, no /dev/net/tun, no JIT.
  assert.deepEqual(svc.ProtectSystem, ["true"]);
  for (const k of ["ProtectKernelTunables", "PrivateDevices", "MemoryDenyWriteExecute"]) {
    assert.equal(svc[k], undefined, k);
  }
  assert.deepEqual(svc.ProtectHome, ["yes"]);
  assert.deepEqual(svc.RestrictAddressFamilies, ["AF_UNIX AF_INET AF_INET6 AF_NETLINK"]);
  for (const [k, v] of Object.entries(svc)) assert.equal(v.length, 1, `${k} given once`);
  assert.deepEqual(s.Install.WantedBy, ["multi-user.target"]);
});

Deno.test("systemd unit: paths are quoted and escaped for ExecStart=", () => {
  const text = systemdUnit({
    binary: "/opt/my weft/bin/weft",
    config: "/etc/weft/100%.yaml",
    stateDir: "/srv/$weft/",
  });
  assert.deepEqual(settings(text).Service.ExecStart, [
    '"/opt/my weft/bin/weft" --config /etc/weft/100%%.yaml --state-dir /srv/$$weft',
  ]);
  assert.equal(
    settings(systemdUnit({ binary: '/opt/a"b\\c' })).Service.ExecStart[0].split(" ")[0],
    '"/opt/a\\"b\\\\c"',
  );
});

Deno.test("systemd unit: StateDirectory= only under /var/lib; ProtectHome=read-only on request", () => {
  assert.deepEqual(
    settings(systemdUnit({ stateDir: "/var/lib/mesh/one/" })).Service.StateDirectory,
    ["mesh/one"],
  );
  const srv = settings(systemdUnit({ stateDir: "/srv/weft" })).Service;
  assert.equal(srv.StateDirectory, undefined);
  assert.equal(srv.StateDirectoryMode, undefined);
  assert.equal(
    settings(systemdUnit({ stateDir: "/var/lib/a b" })).Service.StateDirectory,
    undefined,
  );
  assert.deepEqual(
    settings(systemdUnit({ protectHome: "read-only" })).Service.ProtectHome,
    ["read-only"],
  );
});

Deno.test("systemd unit: relative paths, control characters and empty paths are refused", () => {
  assert.throws(() => systemdUnit({ binary: "weft" }), ConfigError);
  assert.throws(() => systemdUnit({ stateDir: "./state" }), /not an absolute path/);
  assert.throws(
    () => systemdUnit({ config: "/etc/weft.yaml\nExecStartPre=/bin/sh" }),
    /control character/,
  );
  assert.throws(() => systemdUnit({ binary: "" }), ConfigError);
  assert.throws(
    () => systemdUnit({ protectHome: "no" as unknown as "yes" }),
    /expected yes or read-only/,
  );
});

Deno.test("runningWeftBinary: under deno, the default path", () => {
  assert.equal(runningWeftBinary(), DEFAULT_UNIT_BINARY);
});

Deno.test("installSystemdUnit: writes 0644, leaves the same text, refuses another unless forced", async () => {
  await withTempDir(async (dir) => {
    const path = join(dir, "weft.service");
    const binary = join(dir, "weft");
    await Deno.writeFile(binary, new Uint8Array([0x7f, 0x45, 0x4c, 0x46]), { mode: 0o755 });
    const first = await installSystemdUnit({ path, binary });
    assert.equal(first.outcome, "written");
    assert.equal(first.path, path);
    assert.equal(first.unit.protectHome, "yes");
    assert.equal(first.binaryExecutable, true);
    assert.equal(first.configExists, false);
    assert.equal(await Deno.readTextFile(path), first.text);
    assert.equal((await Deno.stat(path)).mode! & 0o777, 0o644);

    const again = await installSystemdUnit({ path, binary });
    assert.equal(again.outcome, "unchanged");

    const other = { path, binary, stateDir: "/var/lib/other" };
    const refused = await installSystemdUnit(other).catch((e) => e);
    assert.ok(refused instanceof SystemdUnitExistsError, String(refused));
    assert.equal(refused.path, path);
    assert.equal(await Deno.readTextFile(path), first.text, "left as it was");

    const forced = await installSystemdUnit({ ...other, force: true });
    assert.equal(forced.outcome, "written");
    assert.match(await Deno.readTextFile(path), /^StateDirectory=other$/m);
    assert.deepEqual((await Array.fromAsync(Deno.readDir(dir))).map((e) => e.name).sort(), [
      "weft",
      "weft.service",
    ]);
  });
});

Deno.test("installSystemdUnit: dry run, relative paths, a script's ProtectHome, bad places", async () => {
  await withTempDir(async (dir) => {
    const script = join(dir, "weft-script");
    await Deno.writeTextFile(script, '#!/bin/sh\nexec deno run main.ts "$@"\n', { mode: 0o755 });
    const config = join(dir, "weft.yaml");
    await Deno.writeTextFile(config, "leader: true\n");
    const path = join(dir, "weft.service");
    const dry = await installSystemdUnit({ path, binary: script, config, dryRun: true });
    assert.equal(dry.outcome, "dry-run");
    assert.equal(dry.unit.protectHome, "read-only");
    assert.equal(dry.configExists, true);
    assert.match(dry.text, /^ProtectHome=read-only$/m);
    await assert.rejects(Deno.stat(path), Deno.errors.NotFound, "nothing written");

    const missing = await installSystemdUnit({ path, binary: join(dir, "none"), dryRun: true });
    assert.equal(missing.binaryExecutable, false);
    assert.equal(missing.unit.protectHome, "yes");

    const cwd = Deno.cwd();
    Deno.chdir(dir);
    try {
      const rel = await installSystemdUnit({
        path: "rel.service",
        binary: "./weft-script",
        stateDir: "state",
        config: "weft.yaml",
      });
      assert.equal(rel.path, join(await Deno.realPath(dir), "rel.service"));
      assert.match(
        rel.text,
        new RegExp(`^ExecStart=${rel.unit.binary} --config ${rel.unit.config} --state-dir `, "m"),
      );
      assert.ok(rel.unit.stateDir.endsWith("/state") && rel.unit.stateDir.startsWith("/"));
    } finally {
      Deno.chdir(cwd);
    }

    await assert.rejects(
      installSystemdUnit({ path: join(dir, "weft.conf"), binary: script }),
      /name ends in \.service/,
    );
    await assert.rejects(
      installSystemdUnit({ path: join(dir, "no", "weft.service"), binary: script }),
      /cannot write .*no\/weft\.service: .* does not exist/,
    );
  });
});
