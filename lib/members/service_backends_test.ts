import assert from "node:assert/strict";
import { parseServiceCheck, parseServiceHttp } from "./service_backends.ts";

Deno.test("service backends: NAME=URL parses, and bad text says what is wrong", () => {
  assert.deepEqual(parseServiceHttp("api=http://127.0.0.1:8080"), {
    name: "api",
    url: "http://127.0.0.1:8080",
  });
  assert.deepEqual(parseServiceHttp(" Api = https://h.example/base/ "), {
    name: "api",
    url: "https://h.example/base",
  });
  const bad: [string, RegExp][] = [
    ["api", /expected NAME=URL/],
    ["=http://x", /the name is empty/],
    ["a_b=http://x", /the name/],
    ["api=127.0.0.1:8080", /must be http or https|not a URL/],
    ["api=ftp://h/x", /must be http or https, not ftp/],
    ["api=http://u:p@h/", /credentials/],
    ["api=http://h/?q=1", /query or fragment/],
    ["api=not a url", /is not a URL/],
  ];
  for (const [text, why] of bad) {
    assert.throws(() => parseServiceHttp(text), why, text);
    assert.throws(() => parseServiceHttp(text), /^Error: invalid HTTP service/, text);
  }
});

Deno.test("service backends: the check text form, and what is wrong with bad text", () => {
  assert.deepEqual(parseServiceCheck("api=tcp://127.0.0.1:8080"), {
    service: "api",
    check: { target: { kind: "tcp", host: "127.0.0.1", port: 8080 } },
  });
  assert.deepEqual(
    parseServiceCheck("Web=http://127.0.0.1:8080/health,interval=2s,timeout=500ms,rise=1,fall=2"),
    {
      service: "web",
      check: {
        target: { kind: "http", url: "http://127.0.0.1:8080/health" },
        intervalMs: 2000,
        timeoutMs: 500,
        rise: 1,
        fall: 2,
      },
    },
  );
  assert.deepEqual(parseServiceCheck("db=tcp://[::1]:5432").check.target, {
    kind: "tcp",
    host: "::1",
    port: 5432,
  });
  const bad: [string, RegExp][] = [
    ["api", /expected NAME=TARGET/],
    ["a b=tcp://h:1", /the name/],
    ["api=tcp://h", /not tcp:\/\/HOST:PORT/],
    ["api=tcp://h:70000", /not tcp:\/\/HOST:PORT/],
    ["api=ftp://h/", /tcp:\/\/, http:\/\/ or https:\/\//],
    ["api=nothing", /neither/],
    ["api=tcp://h:1,interval=1ms", /100ms to 1h/],
    ["api=tcp://h:1,interval=soon", /bad duration/],
    ["api=tcp://h:1,fall=0", /fall must be 1 to 99/],
    ["api=tcp://h:1,every=5s", /unknown option "every"/],
    ["api=tcp://h:1,rise", /expected KEY=VALUE/],
    ["api=tcp://h:1,interval=1s=2", /bad duration/],
  ];
  for (const [text, why] of bad) {
    assert.throws(() => parseServiceCheck(text), why, text);
    assert.throws(() => parseServiceCheck(text), /^Error: invalid service check/, text);
  }
});

Deno.test("parseServiceHttp: an action list after the URL; bad ones refused", () => {
  assert.deepEqual(parseServiceHttp("api=http://127.0.0.1:8080,actions=get|put|get"), {
    name: "api",
    url: "http://127.0.0.1:8080",
    actions: ["get", "put"],
  });
  assert.throws(() => parseServiceHttp("api=http://h:1,actions="), /bad action name/);
  assert.throws(() => parseServiceHttp("api=http://h:1,actions=a|b c"), /bad action name/);
  assert.throws(() => parseServiceHttp("api=http://h:1,actions=a,actions=b"), /twice/);
  assert.deepEqual(parseServiceHttp("api=http://h:1,actions=get|put,idempotent=get"), {
    name: "api",
    url: "http://h:1",
    actions: ["get", "put"],
    idempotent: ["get"],
  });
  assert.deepEqual(parseServiceHttp("api=http://h:1,idempotent=*").idempotent, true);
  assert.throws(() => parseServiceHttp("api=http://h:1,idempotent=a,idempotent=b"), /twice/);
  assert.throws(() => parseServiceHttp("api=http://h:1,idempotent=a b"), /bad action name/);
  assert.throws(() => parseServiceHttp("api=http://h:1,verbs=a"), /unknown option/);
});
