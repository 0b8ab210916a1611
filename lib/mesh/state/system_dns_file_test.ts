import assert from "node:assert/strict";
import { join } from "node:path";
import { parseSaved, SYSTEM_DNS_FILE, SystemDnsFile } from "./system_dns_file.ts";

Deno.test("system-dns.json: saved, loaded, cleared; mode 0600", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const keep = new SystemDnsFile(join(dir, SYSTEM_DNS_FILE));
    assert.equal(await keep.load(), null);
    const saved = {
      mode: "file" as const,
      iface: "weft0",
      path: "/etc/resolv.conf",
      original: btoa("nameserver 192.0.2.53\n"),
      written: btoa("nameserver 10.9.0.7\n"),
    };
    await keep.save(saved);
    assert.deepEqual(await keep.load(), saved);
    assert.equal((await Deno.stat(join(dir, SYSTEM_DNS_FILE))).mode! & 0o777, 0o600);
    await keep.clear();
    await keep.clear();
    assert.equal(await keep.load(), null);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("system-dns.json: a file that is not a record is refused, naming it", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const path = join(dir, SYSTEM_DNS_FILE);
    await Deno.writeTextFile(path, '{"mode":"file","iface":"weft0"}');
    await assert.rejects(() => new SystemDnsFile(path).load(), /system-dns\.json: not a record/);
    await Deno.writeTextFile(path, "{");
    await assert.rejects(() => new SystemDnsFile(path).load(), /invalid JSON/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("system-dns.json: every field is checked", () => {
  assert.deepEqual(parseSaved({ mode: "resolved", iface: "weft0" }), {
    mode: "resolved",
    iface: "weft0",
  });
  assert.deepEqual(parseSaved({ mode: "resolvconf", iface: "weft0", record: "tun.weft0" }), {
    mode: "resolvconf",
    iface: "weft0",
    record: "tun.weft0",
  });
  for (
    const bad of [
      null,
      [],
      { mode: "other", iface: "weft0" },
      { mode: "resolved", iface: "a/b" },
      { mode: "resolved", iface: "x".repeat(16) },
      { mode: "resolvconf", iface: "weft0" },
      { mode: "resolvconf", iface: "weft0", record: "-a; rm" },
      { mode: "file", iface: "weft0", path: "rel", original: "", written: "" },
      { mode: "file", iface: "weft0", path: "/etc/resolv.conf", original: "!", written: "" },
    ]
  ) {
    assert.equal(parseSaved(bad), null, JSON.stringify(bad));
  }
});
