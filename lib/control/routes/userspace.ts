/**
 * The userspace API the CLI uses, mounted at `/v1`: `POST /v1/ping` (an address, or a member's
 * name in a mesh), `POST /v1/send` and
 * `GET /v1/recv` (received datagrams as a stream of NDJSON lines).
 * @module
 */

import { Hono } from "npm:hono@^4.13.19";
import type { Agent } from "../../agent/agent.ts";
import { decodeBase64, encodeBase64 } from "../../crypto/base64.ts";
import { HttpError } from "../middleware/errors.ts";
import { intField, jsonBody, stringField } from "../middleware/body.ts";
import { answerWrongMethods } from "../middleware/methods.ts";
import { parseAddress } from "../../net/ip.ts";
import { quote } from "../../text/quote.ts";
import type { Member } from "../../members/member.ts";
import { memberByName } from "../../members/lookup.ts";
import { DEFAULT_ZONE } from "../../dns/zone.ts";

/** What the userspace routes use of the agent. */
export type UserspaceApi = Pick<Agent, "ping" | "send" | "listen">;

/** What the ping route uses of a mesh agent: its view and its DNS zone, to look names up. */
export interface PingNames {
  /** The membership view this node holds. */
  view(): { members: readonly Member[] };
  /** The DNS server, when on (its zone's origin: `name.<zone>` names a member too). */
  readonly dns: { readonly zone: { readonly origin: string } } | null;
}

/** Most `/v1/recv` streams open at once. */
export const MAX_RECV_STREAMS = 64;

/** The userspace routes of an agent, as a Hono app to mount at `/v1`. */
export function userspaceRoutes(agent: UserspaceApi, mesh?: PingNames): Hono {
  const app = new Hono();
  let recvStreams = 0;

  // The target is an address, or a member's name looked up in this node's view (`name`).
  app.post("/ping", async (c) => {
    const body = await jsonBody(c);
    let address: string;
    let name: string | undefined;
    if (body.name !== undefined) {
      if (body.address !== undefined) {
        throw new HttpError(400, "give an address or a name, not both");
      }
      const text = stringField(body, "name");
      if (!mesh) {
        throw new HttpError(404, `this agent is in no mesh: no member named ${quote(text)}`);
      }
      const found = memberByName(
        mesh.view().members,
        text,
        mesh.dns?.zone.origin ?? DEFAULT_ZONE,
      );
      if ("problem" in found) throw new HttpError(404, found.problem);
      address = found.member.address;
      name = found.member.name;
    } else {
      address = stringField(body, "address");
      if (parseAddress(address) === null) {
        throw new HttpError(400, `address must be an IPv4 or IPv6 address, got ${quote(address)}`);
      }
    }
    const count = intField(body, "count", 1, 100, 1);
    const timeoutMs = intField(body, "timeoutMs", 1, 60_000, 1000);
    try {
      const res = await agent.ping(address, { count, timeoutMs });
      return c.json(name === undefined ? res : { ...res, name });
    } catch (e) {
      // An address this node cannot ping from (no address of that family), as /v1/send says.
      throw new HttpError(422, e instanceof Error ? e.message : String(e));
    }
  });

  app.post("/send", async (c) => {
    const body = await jsonBody(c);
    const address = stringField(body, "address");
    const port = intField(body, "port", 1, 65535);
    const fromPort = body.fromPort === undefined ? undefined : intField(body, "fromPort", 1, 65535);
    let data: Uint8Array;
    if (typeof body.base64 === "string") {
      const d = decodeBase64(body.base64);
      if (!d) throw new HttpError(400, "base64 is not valid base64");
      data = d;
    } else if (typeof body.text === "string") {
      data = new TextEncoder().encode(body.text);
    } else throw new HttpError(400, "give the payload as text or base64");
    try {
      agent.send(address, port, data, fromPort);
    } catch (e) {
      throw new HttpError(422, e instanceof Error ? e.message : String(e));
    }
    return c.json({ sent: data.length });
  });

  // A stream of received datagrams as NDJSON, until `count` arrived or the client goes away.
  app.get("/recv", (c) => {
    const port = Number(c.req.query("port"));
    if (!Number.isInteger(port) || port < 1 || port > 65535) {
      throw new HttpError(400, "port must be an integer from 1 to 65535");
    }
    const countText = c.req.query("count");
    const count = countText === undefined ? Infinity : Number(countText);
    if (!(count >= 1)) throw new HttpError(400, "count must be a positive integer");
    // Streams last as long as their client wants: bounded, so they cannot take every connection.
    if (recvStreams >= MAX_RECV_STREAMS) {
      throw new HttpError(503, `more than ${MAX_RECV_STREAMS} receive streams open`);
    }
    let sub: { close(): void };
    let push: (line: string) => void = () => {};
    let got = 0;
    const enc = new TextEncoder();
    // Listening before the stream exists, so a port that cannot be had is an answer (422 with
    // the reason, as /v1/send), not a stream that fails after its headers.
    try {
      sub = agent.listen(port, (d) => {
        push(JSON.stringify({ address: d.address, port: d.port, base64: encodeBase64(d.data) }));
      });
    } catch (e) {
      throw new HttpError(422, e instanceof Error ? e.message : String(e));
    }
    recvStreams++;
    let ended = false;
    const end = () => {
      if (!ended) recvStreams--;
      ended = true;
      sub.close();
    };
    const stream = new ReadableStream<Uint8Array>({
      start(controller) {
        push = (line) => {
          if (ended) return;
          controller.enqueue(enc.encode(line + "\n"));
          if (++got >= count) {
            end();
            controller.close();
          }
        };
        // An empty line tells the client the listener is in place.
        controller.enqueue(enc.encode("\n"));
      },
      cancel() {
        end();
      },
    });
    return new Response(stream, { headers: { "content-type": "application/x-ndjson" } });
  });

  return answerWrongMethods(app);
}
