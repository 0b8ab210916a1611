/**
 * Layer 2 segments as a member carries them: what the data plane is asked for (a
 * {@link SegmentPlan} per segment this member is in) and the interface every data plane
 * implements ({@link SegmentDriver}: VXLAN through the kernel now; GENEVE, or a userspace TAP
 * driver for hosts without the VXLAN module, behind the same interface later). The segments
 * themselves are defined in the policy document (`segments:`), chosen by label selectors.
 * @module
 */

/** The bytes VXLAN adds to a frame over IPv4: outer IPv4 20, UDP 8, VXLAN 8, inner Ethernet 14. */
export const VXLAN_OVERHEAD = 50;

/**
 * The segment data planes weft has, each with what it needs of a host: a policy names one per
 * segment (`driver:`), and a member carries the segment with the {@link SegmentDriver} of that
 * name. A new data plane (GENEVE; a userspace TAP driver for hosts without the VXLAN module) is
 * one entry here and one driver.
 */
export const SEGMENT_DRIVERS = {
  vxlan: "the vxlan and bridge kernel modules (or built in), ip and bridge from iproute2, iptables",
} as const;

/** A segment data plane's name (a key of {@link SEGMENT_DRIVERS}). */
export type SegmentDriverName = keyof typeof SEGMENT_DRIVERS;

/** The data plane of a segment that names none. */
export const DEFAULT_SEGMENT_DRIVER: SegmentDriverName = "vxlan";

/** Whether `name` is a segment data plane weft has. */
export function isSegmentDriverName(name: unknown): name is SegmentDriverName {
  return typeof name === "string" && Object.hasOwn(SEGMENT_DRIVERS, name);
}

/** What one segment needs on this member. */
export interface SegmentPlan {
  /** The segment's name (`blue`): the bridge is {@link bridgeName}. */
  name: string;
  /** The data plane that carries it. */
  driver: SegmentDriverName;
  /** Its VXLAN network identifier. */
  vni: number;
  /** The MTU of its bridge and tunnel port. */
  mtu: number;
  /** This member's overlay address (IPv4): the tunnel's source. */
  local: string;
  /** The other members' overlay addresses (IPv4): where flooded frames are copied to. */
  remotes: string[];
}

/** A segment's data plane on one host. */
export interface SegmentDriver {
  /** The driver's name: the segments whose `driver` it is are its to carry. */
  readonly name: SegmentDriverName;
  /**
   * Makes the host carry exactly `plans`, the segments of this driver (segments added, changed,
   * removed; remotes added and removed); throws naming what is missing (a kernel module, a
   * program) or what failed.
   */
  apply(plans: readonly SegmentPlan[]): Promise<void>;
  /** Removes every segment this driver set up (bridges, tunnel ports, filter rules). */
  close(): Promise<void>;
  /** Removes what a crashed run on the overlay interface left behind. */
  sweep(): Promise<void>;
}

/** The bridge of a segment: what VMs, containers and ports are plugged into. */
export function bridgeName(segment: string): string {
  return `br-${segment}`;
}

/** The segment's tunnel port (a VXLAN device) on its bridge. */
export function tunnelName(segment: string): string {
  return `vx-${segment}`;
}

/** A segment's MTU: the one it sets, else the overlay's less the encapsulation. */
export function segmentMtu(overlayMtu: number, mtu?: number): number {
  return mtu ?? overlayMtu - VXLAN_OVERHEAD;
}
