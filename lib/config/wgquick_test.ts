import assert from "node:assert/strict";
import { ConfigError } from "./config_error.ts";
import {
  interfaceNameFromPath,
  isWgKey,
  loadWgQuickFile,
  parseWgQuick,
  serializeWgQuick,
  type WgQuickConfig,
} from "./wgquick.ts";

// Real keys from `wg genkey` / `wg pubkey` / `wg genpsk`.
const PRIV = "MKkR++LVIRXtd5MWQNDhJedeJZyKaaTOJI5vlB4Aw1k=";
const PUB_A = "g/fOVCA9+ybIBFiLD3jhI3Uwv+IM1ga4BqEADIPt3hY=";
const PUB_B = "EbJ79eFoo6T1N/GtAt3NLv8Ay+GlsETayU6Z6/iaOQ8=";
const PUB_C = "IgXmL3Y4fAyFz0YkeDHEDR3F1KBOFSGXx3QTLOQGhjs=";
const PSK = "58dlGsMyjhiT+v1zj/SKww4wuiZG7eC374DbGvv7Vf0=";

const REALISTIC = `# wg0: office mesh
[Interface]
PrivateKey = ${PRIV}
Address = 10.10.0.1/24, fd00:10::1/64
Address = 10.10.1.1/32
ListenPort = 51820
MTU = 1420
DNS = 10.10.0.53, fd00:10::53, corp.example, example.net
Table = off
PreUp = sysctl -w net.ipv4.ip_forward=1
PostUp = iptables -A FORWARD -i %i -j ACCEPT; iptables -t nat -A POSTROUTING -o eth0 -j MASQUERADE
PostDown = iptables -D FORWARD -i %i -j ACCEPT
SaveConfig = false

[Peer]
# alice, laptop
PublicKey = ${PUB_A}
PresharedKey = ${PSK}
AllowedIPs = 10.10.0.2/32, fd00:10::2/128
Endpoint = 192.0.2.10:51820
PersistentKeepalive = 25

[Peer]
PublicKey = ${PUB_B}
AllowedIPs = 10.10.0.3/32
AllowedIPs = 198.51.100.0/24
Endpoint = [2001:db8::7]:4500

[Peer]
PublicKey = ${PUB_C}
Endpoint = vpn.example.com:51821
AllowedIPs = 0.0.0.0/0, ::/0
PersistentKeepalive = off
`;

const EXPECTED: WgQuickConfig = {
  interface: {
    privateKey: PRIV,
    addresses: ["10.10.0.1/24", "fd00:10::1/64", "10.10.1.1/32"],
    listenPort: 51820,
    mtu: 1420,
    dns: ["10.10.0.53", "fd00:10::53"],
    dnsSearch: ["corp.example", "example.net"],
    table: "off",
    preUp: ["sysctl -w net.ipv4.ip_forward=1"],
    postUp: [
      "iptables -A FORWARD -i %i -j ACCEPT; iptables -t nat -A POSTROUTING -o eth0 -j MASQUERADE",
    ],
    preDown: [],
    postDown: ["iptables -D FORWARD -i %i -j ACCEPT"],
    saveConfig: false,
  },
  peers: [
    {
      publicKey: PUB_A,
      presharedKey: PSK,
      allowedIPs: ["10.10.0.2/32", "fd00:10::2/128"],
      endpoint: { host: "192.0.2.10", port: 51820 },
      persistentKeepalive: 25,
    },
    {
      publicKey: PUB_B,
      allowedIPs: ["10.10.0.3/32", "198.51.100.0/24"],
      endpoint: { host: "2001:db8::7", port: 4500 },
    },
    {
      publicKey: PUB_C,
      allowedIPs: ["0.0.0.0/0", "::/0"],
      endpoint: { host: "vpn.example.com", port: 51821 },
    },
  ],
};

Deno.test("a realistic config parses to the expected value", () => {
  assert.deepEqual(parseWgQuick(REALISTIC), EXPECTED);
});

Deno.test("a realistic config round-trips through serialize and parse", () => {
  const text = serializeWgQuick(parseWgQuick(REALISTIC));
  assert.deepEqual(parseWgQuick(text), EXPECTED);
  // Serializing is stable: a second pass gives the same text.
  assert.equal(serializeWgQuick(parseWgQuick(text)), text);
  assert.match(text, /^\[Interface\]\nPrivateKey = /);
  assert.match(text, /\nEndpoint = \[2001:db8::7\]:4500\n/);
  assert.match(text, /\nDNS = 10\.10\.0\.53, fd00:10::53, corp\.example, example\.net\n/);
  assert.equal(text.match(/^\[Peer\]$/gm)?.length, 3);
});

Deno.test("spacing, key case, comments, CRLF and a BOM are tolerated", () => {
  const text = "\uFEFF  # leading comment\r\n" +
    "[interface]   # trailing comment\r\n" +
    `privatekey=${PRIV}\r\n` +
    "\r\n" +
    "  ADDRESS   =10.0.0.1/24 ,fd00::1/64,  10.0.0.9\r\n" +
    "listenPORT= 1234#comment right after\r\n" +
    "\t\r\n" +
    "[ PEER ]\r\n" +
    `PUBLICKEY =${PUB_A}\r\n` +
    "allowedips=   10.0.0.2/32,fd00::2\r\n" +
    "endpoint = [fe80::1%eth0]:51820\r\n" +
    "PersistentKeepAlive =0\r\n";
  const cfg = parseWgQuick(text);
  assert.equal(cfg.interface.privateKey, PRIV);
  assert.deepEqual(cfg.interface.addresses, ["10.0.0.1/24", "fd00::1/64", "10.0.0.9"]);
  assert.equal(cfg.interface.listenPort, 1234);
  assert.deepEqual(cfg.peers, [{
    publicKey: PUB_A,
    allowedIPs: ["10.0.0.2/32", "fd00::2"],
    endpoint: { host: "fe80::1%eth0", port: 51820 },
  }]);
});

Deno.test("minimal config: only a private key; empty lists; peer without endpoint", () => {
  const cfg = parseWgQuick(`[Interface]\nPrivateKey = ${PRIV}\n[Peer]\nPublicKey = ${PUB_A}\n`);
  assert.deepEqual(cfg, {
    interface: {
      privateKey: PRIV,
      addresses: [],
      dns: [],
      dnsSearch: [],
      preUp: [],
      postUp: [],
      preDown: [],
      postDown: [],
    },
    peers: [{ publicKey: PUB_A, allowedIPs: [] }],
  });
  assert.deepEqual(parseWgQuick(serializeWgQuick(cfg)), cfg);
  // An explicitly empty AllowedIPs (wg's way to clear it) is an empty list.
  const cleared = parseWgQuick(
    `[Interface]\nPrivateKey = ${PRIV}\n[Peer]\nPublicKey = ${PUB_A}\nAllowedIPs =\n`,
  );
  assert.deepEqual(cleared.peers[0].allowedIPs, []);
});

Deno.test("FwMark: hex, decimal and off", () => {
  const base = `[Interface]\nPrivateKey = ${PRIV}\n`;
  assert.equal(parseWgQuick(base + "FwMark = 0x1f\n").interface.fwMark, 31);
  assert.equal(parseWgQuick(base + "FwMark = 51820\n").interface.fwMark, 51820);
  assert.equal(parseWgQuick(base + "FwMark = off\n").interface.fwMark, undefined);
  const cfg = parseWgQuick(base + "FwMark = 0xca6c\n");
  assert.deepEqual(parseWgQuick(serializeWgQuick(cfg)), cfg);
});

/** Asserts that parsing fails at `line` with a reason matching `reason`. */
function assertError(text: string, line: number | undefined, reason: RegExp, file?: string): void {
  let caught: unknown;
  try {
    parseWgQuick(text, { file });
  } catch (err) {
    caught = err;
  }
  assert.ok(caught instanceof ConfigError, `expected a ConfigError, got ${caught}`);
  assert.equal(caught.line, line, `line for ${caught.message}`);
  assert.match(caught.reason, reason);
  assert.equal(caught.file, file);
  if (line !== undefined) assert.match(caught.message, new RegExp(`line ${line}: `));
  if (file !== undefined) assert.ok(caught.message.startsWith(file));
}

const IFACE = `[Interface]\nPrivateKey = ${PRIV}\n`; // lines 1-2
const PEER_A = `[Peer]\nPublicKey = ${PUB_A}\n`;

Deno.test("errors name the line and the reason", () => {
  const cases: [string, number, RegExp][] = [
    [`PrivateKey = ${PRIV}\n[Interface]\n`, 1, /PrivateKey is outside a section/],
    [IFACE + "[Peers]\n", 3, /unknown section \[Peers\]/],
    [IFACE + "[Interface\n", 3, /malformed section header/],
    [IFACE + "ListenPort = 1\nFooBar = 1\n", 4, /unknown key FooBar in \[Interface\]/],
    [IFACE + "Endpoint = 192.0.2.1:1\n", 3, /unknown key Endpoint.*belongs in \[Peer\]/],
    [IFACE + PEER_A + "MTU = 1400\n", 5, /unknown key MTU in \[Peer\].*\[Interface\]/],
    [IFACE + "just some words\n", 3, /expected "Key = Value"/],
    [IFACE + " = value\n", 3, /missing key/],
    [IFACE + PEER_A + PEER_A, 6, /duplicate PublicKey: the peer at line 3/],
    [IFACE + PEER_A + `PublicKey = ${PUB_B}\n`, 5, /duplicate PublicKey in this section/],
    [IFACE + `PrivateKey = ${PRIV}\n`, 3, /duplicate PrivateKey/],
    [IFACE + "[Interface]\n", 3, /duplicate \[Interface\] section.*line 1/],
    ["[Interface]\nPrivateKey = abc=\n", 2, /bad key for PrivateKey: expected 44 characters/],
    [
      // Right length, but the 43rd character has non-zero padding bits: wg rejects it too.
      `[Interface]\nPrivateKey = ${PRIV.slice(0, 42)}l=\n`,
      2,
      /bad key for PrivateKey/,
    ],
    [IFACE + `[Peer]\nPublicKey = ${PUB_A.slice(1)}A\n`, 4, /bad key for PublicKey/],
    [IFACE + PEER_A + "PresharedKey = not-a-key\n", 5, /bad key for PresharedKey/],
    [IFACE + "ListenPort = 65536\n", 3, /bad port "65536"/],
    [IFACE + "ListenPort = -1\n", 3, /bad port "-1"/],
    [IFACE + "ListenPort = 51820x\n", 3, /bad port/],
    [IFACE + "ListenPort =\n", 3, /empty value for ListenPort/],
    [IFACE + "MTU = 9\n", 3, /bad MTU "9"/],
    [IFACE + "Address = 10.0.0.1/33\n", 3, /bad address in Address: bad prefix length "33"/],
    [IFACE + "Address = 10.0.0.256/24\n", 3, /bad address in Address: "10.0.0.256" is not an IP/],
    [IFACE + "Address = 10.0.0.1/24,,10.0.0.2\n", 3, /empty entry in the Address list/],
    [IFACE + "Address = fd00::1::2/64\n", 3, /bad address in Address/],
    [IFACE + "DNS = 10.0.0.1, bad..name\n", 3, /bad DNS entry in DNS/],
    [IFACE + "SaveConfig = yes\n", 3, /bad SaveConfig "yes"/],
    [IFACE + "FwMark = 0xzz\n", 3, /bad FwMark/],
    [IFACE + "Table = a b\n", 3, /bad Table/],
    [IFACE + "PostUp =\n", 3, /empty value for PostUp/],
    [IFACE + PEER_A + "AllowedIPs = 10.0.0.0/8, fd00::/129\n", 5, /bad prefix length "129"/],
    [IFACE + PEER_A + "AllowedIPs = 10.0.0.0/08\n", 5, /bad prefix length "08"/],
    [IFACE + PEER_A + "Endpoint = 192.0.2.1\n", 5, /bad endpoint.*expected host:port/],
    [IFACE + PEER_A + "Endpoint = 192.0.2.1:0\n", 5, /bad port "0" in endpoint/],
    [IFACE + PEER_A + "Endpoint = 192.0.2.1:70000\n", 5, /bad port "70000"/],
    [IFACE + PEER_A + "Endpoint = 192.0.2.1:\n", 5, /bad port ""/],
    [IFACE + PEER_A + "Endpoint = 2001:db8::1:51820\n", 5, /put IPv6 addresses in brackets/],
    [IFACE + PEER_A + "Endpoint = [2001:db8::1]51820\n", 5, /expected \[address\]:port/],
    [IFACE + PEER_A + "Endpoint = [vpn.example]:1\n", 5, /is not an IPv6 address/],
    [IFACE + PEER_A + "Endpoint = 300.1.1.1:1\n", 5, /neither an IP address nor a hostname/],
    [IFACE + PEER_A + "Endpoint = bad_host!:1\n", 5, /neither an IP address nor a hostname/],
    [IFACE + PEER_A + "PersistentKeepalive = soon\n", 5, /bad PersistentKeepalive "soon"/],
    [IFACE + PEER_A + "PersistentKeepalive = 25\nPersistentKeepalive = 30\n", 6, /duplicate/],
    [`[Interface]\nListenPort = 1\n`, 1, /\[Interface\] section has no PrivateKey/],
    [IFACE + "\n[Peer]\nAllowedIPs = 10.0.0.0/8\n", 4, /this \[Peer\] section has no PublicKey/],
  ];
  for (const [text, line, reason] of cases) assertError(text, line, reason);
});

Deno.test("errors carry the file name when given; a file without [Interface] has no line", () => {
  assertError("[Interface]\nMTU = x\n", 2, /bad MTU/, "/etc/wireguard/wg0.conf");
  assertError("# nothing\n", undefined, /no \[Interface\] section/, "empty.conf");
  const err = new ConfigError("bad port", { file: "a.conf", line: 7 });
  assert.equal(err.message, "a.conf, line 7: bad port");
  assert.equal(new ConfigError("oops", { line: 2 }).message, "line 2: oops");
});

Deno.test("loadWgQuickFile reads a file and names it in errors", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const good = `${dir}/wg0.conf`;
    await Deno.writeTextFile(good, REALISTIC);
    assert.deepEqual(await loadWgQuickFile(good), EXPECTED);
    const bad = `${dir}/wg1.conf`;
    await Deno.writeTextFile(bad, IFACE + "Bogus = 1\n");
    await assert.rejects(() => loadWgQuickFile(bad), (err: unknown) => {
      assert.ok(err instanceof ConfigError);
      assert.equal(err.message, `${bad}, line 3: unknown key Bogus in [Interface]`);
      return true;
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("serialize refuses values that would not read back the same", () => {
  const cfg = parseWgQuick(REALISTIC);
  const broken = (mutate: (c: WgQuickConfig) => void): WgQuickConfig => {
    const copy = structuredClone(cfg);
    mutate(copy);
    return copy;
  };
  assert.throws(
    () => serializeWgQuick(broken((c) => c.interface.postUp.push("echo a\nrm -rf /"))),
    ConfigError,
  );
  assert.throws(
    () => serializeWgQuick(broken((c) => c.interface.preUp.push("echo # not a comment"))),
    /cannot be written on one line/,
  );
  assert.throws(
    () => serializeWgQuick(broken((c) => c.peers[0].publicKey = "short")),
    /PublicKey is not a valid key/,
  );
  assert.throws(
    () => serializeWgQuick(broken((c) => c.peers[0].allowedIPs.push("10.0.0.0/40"))),
    /AllowedIPs/,
  );
  assert.throws(
    () => serializeWgQuick(broken((c) => c.peers[1].endpoint = { host: "x y", port: 1 })),
    /Endpoint/,
  );
  assert.throws(
    () => serializeWgQuick(broken((c) => c.interface.listenPort = 70000)),
    /ListenPort/,
  );
});

Deno.test("isWgKey agrees with wg(8) on canonical and non-canonical keys", async (t) => {
  const candidates = [PRIV, PUB_A, PSK];
  // Every possible 43rd character: only those with zero padding bits are keys.
  const b64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  for (const c of b64) candidates.push(PRIV.slice(0, 42) + c + "=");
  candidates.push(PRIV.slice(0, 43), PRIV + "=", PRIV.replace("+", "-"));
  for (const key of candidates) {
    const expected = key.length === 44 && key.endsWith("=") && !key.includes("-") &&
      b64.indexOf(key[42]) % 4 === 0;
    assert.equal(isWgKey(key), expected, key);
  }
  const wg = await new Deno.Command("wg", { args: ["--version"], stdout: "null", stderr: "null" })
    .output().then((o) => o.success, () => false);
  await t.step({
    name: "cross-check with `wg pubkey`",
    ignore: !wg,
    fn: async () => {
      for (const key of candidates) {
        const child = new Deno.Command("wg", {
          args: ["pubkey"],
          stdin: "piped",
          stdout: "null",
          stderr: "null",
        }).spawn();
        const w = child.stdin.getWriter();
        await w.write(new TextEncoder().encode(key + "\n"));
        await w.close();
        const { success } = await child.status;
        assert.equal(isWgKey(key), success, `wg disagrees on ${key}`);
      }
    },
  });
});

Deno.test("interfaceNameFromPath follows wg-quick's rule", () => {
  assert.equal(interfaceNameFromPath("/etc/wireguard/wg0.conf"), "wg0");
  assert.equal(interfaceNameFromPath("office-vpn.conf"), "office-vpn");
  assert.equal(interfaceNameFromPath("./a_b=c+d.e-f.conf"), "a_b=c+d.e-f");
  assert.equal(interfaceNameFromPath("/x/abcdefghijklmno.conf"), "abcdefghijklmno"); // 15 chars
  for (
    const bad of [
      "/x/abcdefghijklmnop.conf", // 16 chars
      "/etc/wireguard/.conf",
      "/etc/wireguard/wg0",
      "/etc/wireguard/wg0.cfg",
      "/etc/wireguard/wg 0.conf",
      "/etc/wireguard/wg@0.conf",
      "/etc/wireguard/",
    ]
  ) {
    assert.throws(() => interfaceNameFromPath(bad), (err: unknown) => {
      assert.ok(err instanceof ConfigError, bad);
      assert.equal(err.file, bad);
      assert.match(err.message, /must be an interface name .* followed by "\.conf"/);
      return true;
    });
  }
});
