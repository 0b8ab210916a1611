/**
 * The network policy file format, and one import for its three modules: the validated,
 * normalized document (`model.ts`), the validator that turns a plain value (from YAML or from the
 * JSON wire form) into it (`validate.ts`) and the wire form (`wire.ts`).
 *
 * A policy file (YAML, see `parse.ts`):
 *
 * ```yaml
 * defaults:
 *   inbound: deny      # optional; see "Defaults" below
 *   outbound: allow    # optional
 * policies:
 *   - name: web-to-app           # required, unique: [A-Za-z0-9][A-Za-z0-9._-]{0,62}
 *     description: free text     # optional
 *     action: allow              # required: allow | deny
 *     priority: 100              # optional, integer 0-1000000, default 1000
 *     from: { labels: { role: web } }   # optional selector, default "*"
 *     to: "role=app"                    # optional selector, default "*"
 *     proto: tcp                 # optional: tcp | udp | icmp | any (default any)
 *     ports: ["8090-8100", 443]  # optional, only with tcp or udp: destination ports/ranges
 *     qos:                       # optional, allow rules only: quality of service (see below)
 *       rate: 20mbit             #   a rate limit: bit, kbit, mbit, gbit (1000-based)
 *       burst: 256kb             #   optional, with rate: b, kb, mb (1024-based)
 *       class: interactive       #   optional: interactive | bulk
 * segments:                       # optional: Layer 2 segments over the mesh
 *   - name: blue                  # required, unique: 1-12 of a-z, 0-9, "-" (bridge br-blue)
 *     vni: 100                    # required, unique: 1-16777215
 *     select: "site in (a,b)"     # required: the members in it (labels, names, or "*")
 *     mtu: 1370                   # optional: default the overlay's MTU less VXLAN's 50 bytes
 *     driver: vxlan               # optional: the data plane (vxlan, the only one so far)
 * future: [db3]                   # optional: names selectors may give before those members join
 * tests:                          # optional: flows that must be allowed or denied
 *   - { from: web1, to: db1, proto: tcp, port: 5432, expect: allow }  # proto default tcp
 *   - { from: web1, to: 10.200.0.9, proto: icmp, expect: deny }       # port: tcp/udp only
 * calls:                          # optional: who may call which service and action
 *   - name: web-bills             # required, unique among the call rules
 *     action: allow               # required: allow | deny
 *     priority: 100               # optional, as a rule's (default 1000)
 *     from: "role=web"            # optional selector of members (default "*"), see below
 *     service: billing            # required: a service name, or "*" for every one
 *     actions: [charge, refund]   # optional: default every action
 * ```
 *
 * Top-level keys are `defaults`, `policies`, `segments`, `future`, `tests` and `calls`, rule,
 * segment, test and call rule keys those shown; anything else is an error. Every problem of a document is reported,
 * each with its path and line, not only the first. A segment is an Ethernet bridge on each
 * member it selects, joined to the others' by VXLAN inside the tunnels; VXLAN for a segment from
 * a member outside it is dropped (`lib/segments/`).
 *
 * **Selectors** (`from`, `to`) name the endpoints of a packet: its source and its destination.
 * - `"*"`: any address.
 * - A label expression string, e.g. `"role=web,env!=prod"`. Comma-separated terms, all of which
 *   must hold: `key=value` (or `key==value`), `key!=value` (true when the label is absent or
 *   different), `key in (a,b)`, `key notin (a,b)` (true when absent or not listed), `key` (the
 *   label exists), `!key` (it does not). Keys are `[A-Za-z0-9]` with `._/-` inside, values
 *   `[A-Za-z0-9]` with `._-` inside (at most 63 characters).
 * - `{ labels: { role: web, env: [prod, staging] } }`: a map form, each key must equal the value
 *   (or be one of the listed values); `{ labels: "role=web,env!=prod" }` takes an expression.
 * - `{ names: [web1, web2] }`: members by node name (case-insensitive).
 * - `{ cidrs: [10.0.0.0/24, "fd00::/64"] }`: any address inside one of the prefixes, members or
 *   not (a bare address is a single host; host bits past the prefix are an error).
 * - A list of the above: any of them (`[{ names: [bastion] }, "role=admin"]`).
 *
 * Label and name selectors match the overlay addresses (IPv4 and IPv6) of the members they pick;
 * a member joining, leaving or changing labels changes what a rule matches.
 *
 * **Against the members** (`check.ts`, where the leader puts a document in force): a name in a
 * `names` selector (rules and segments) must be a member's or be listed in `future`, else the
 * document is refused (a typo would silently select nobody); label selectors that match no
 * member are warnings; each test (`from`, `to` a member name or an address, as `weft policy
 * test` asks) must get its `expect`ed verdict by the rules and defaults, else the document is
 * refused. A test naming a `future` member that has not joined is skipped with a warning. A node
 * reading the document it was sent checks none of this.
 *
 * **Evaluation**: rules are tried in ascending `priority` (ties keep file order); the first rule
 * whose `from` matches the source, `to` the destination, `proto` the protocol and `ports` the
 * destination port decides. `icmp` covers ICMPv4 and ICMPv6; `any` also covers other protocols.
 *
 * **Defaults**, when no rule matches: `outbound` (packets this node sends into the tunnel) is
 * allow unless set; `inbound` (packets arriving from the tunnel) is deny once the document has a
 * rule, unless set. A document with no rules and no `defaults` is "no policy": everything passes.
 * A `defaults` entry applies even without rules (so `defaults: { inbound: deny }` alone closes
 * the mesh to new flows no rule allows). Between two members both defaults apply (a flow passes
 * only if the sender's outbound and the receiver's inbound default both allow it), so both ends
 * reach the same verdict: a node does not send what its peer would drop, and a flow stopped by a
 * reload cannot be revived from its other end. With a non-member end (a routed subnet, a plain
 * WireGuard peer), only this node's default for the direction applies.
 *
 * **Call rules** (`calls`, see `calls.ts`) are not about packets: the callee of a service call
 * decides each call by them, the caller being the member its WireGuard identity (the overlay
 * source address) makes it. A call rule's `from` is a selector of members: `"*"`, labels, names,
 * `{ services: [audit] }` (the members offering a service), or a list of those; never cidrs.
 * The first rule by priority whose `from`, `service` and `actions` match decides; when none
 * does, a service some rule names (every one, with a `*` rule) is closed and the call refused,
 * a service no rule names is open. A document without `calls` changes no call.
 *
 * Replies to allowed flows always pass (connection tracking, see `conntrack.ts`).
 *
 * **Quality of service** (`qos`, a key of its own: `priority` is the evaluation order). A rule
 * with a `rate` gets a token bucket on every node: each packet the node sends into the tunnel
 * that belongs to a flow the rule allowed (the flow's own packets and its replies leaving this
 * node) takes its length (the inner IP packet) in tokens. The bucket refills at the rate and
 * holds `burst` bytes, by default 100 ms of the rate (at least 3000 bytes). A packet finding too
 * few waits for them (up to 100 ms of the rate of packets per rule: shaping); past that it is
 * dropped; both counted. Units: `bit`, `kbit`, `mbit`, `gbit` (1000-based, as `tc`) for the
 * rate, bytes or `b`, `kb`, `mb` (1024-based, as `tc`) for the burst; see `qos.ts`. Packets
 * arriving from the tunnel are not charged: the sender enforces. `class` marks a rule's flows
 * interactive or bulk (default: neither), shown by explanations; it does not change how packets
 * are sent (see `qos.ts`). QoS is only on `allow` rules (a deny rule's packets never flow); a
 * `qos` map needs `rate` or `class`, and `burst` only goes with `rate`.
 * @module
 */

export * from "./model.ts";
export * from "./validate.ts";
export * from "./wire.ts";
