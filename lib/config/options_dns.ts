/**
 * The option table's rows of DNS: the overlay DNS server, its zone, forwarding, the host's
 * resolver and split DNS. Assembled, in this order, into the one table by `options.ts`.
 * @module
 */

import type { OptionRows } from "./option_spec.ts";
import { boolean, integer, text } from "./combinators.ts";
import { dnsRouteList } from "./values.ts";
import { quote } from "../text/quote.ts";
import { dnsZoneProblem } from "../net/names.ts";

/** These rows of the option table, in the order help lists them. */
export const DNS_OPTIONS: OptionRows<
  "dnsPort" | "dnsZone" | "dnsForward" | "dnsForwardMembers" | "acceptDns" | "dnsRoute"
> = {
  dnsPort: {
    flag: "--dns-port",
    arg: "<port>",
    yaml: "dns-port",
    type: "integer",
    default: "15353",
    validation: "0 to 65535 (0: no DNS server)",
    description: "the UDP port of the overlay DNS server",
    defaultValue: () => 15353,
    parse: integer(0, 65535),
  },
  dnsZone: {
    flag: "--dns-zone",
    arg: "<zone>",
    yaml: "dns-zone",
    type: "string",
    default: "overlay.local.",
    validation: "a DNS name; a final dot is added if missing; stored lowercase",
    description: "the zone overlay names are served under",
    defaultValue: () => "overlay.local.",
    parse: text((s) => {
      const v = s.trim().toLowerCase();
      const p = dnsZoneProblem(v);
      if (p !== undefined) throw new Error(`${quote(s)} ${p}`);
      return v.endsWith(".") ? v : `${v}.`;
    }),
  },
  dnsForward: {
    flag: "--dns-forward",
    yaml: "dns-forward",
    type: "boolean",
    default: "false",
    validation: "true or false",
    description: "forward queries outside the zone to the system resolvers",
    defaultValue: () => false,
    parse: boolean,
  },
  dnsForwardMembers: {
    flag: "--dns-forward-members",
    yaml: "dns-forward-members",
    type: "boolean",
    default: "false",
    validation: "true or false",
    description: "forward names outside the zone (dns-forward, dns-route, accept-dns) for other " +
      "members' queries too, not only this host's own; off: theirs are refused",
    defaultValue: () => false,
    parse: boolean,
  },
  acceptDns: {
    flag: "--accept-dns",
    yaml: "accept-dns",
    type: "boolean",
    default: "false",
    validation: "true or false",
    description: "point this host's resolver at weft (TUN mode): mesh names for every program " +
      "(short ones after the host's search domains); others to the host's resolvers; put back " +
      "on exit",
    defaultValue: () => false,
    parse: boolean,
  },
  dnsRoute: {
    flag: "--dns-route",
    arg: "<domain=resolver[,resolver]>",
    yaml: "dns-route",
    repeatable: true,
    type: "list of DOMAIN=RESOLVER[,RESOLVER]",
    default: "none",
    validation:
      "a DNS name, = and up to 8 IP addresses with an optional port (53); no domain twice",
    description: "split DNS: names under the domain asked of this node's DNS server go to these " +
      "resolvers (one behind a subnet router, say), whether or not dns-forward is on",
    defaultValue: () => [],
    parse: dnsRouteList,
    fromFlag: (v) => (Array.isArray(v) ? v : [v]),
  },
};
