/** What a process listens on, read from Linux's /proc (test-only: no portable API tells). */
import { readdirSync, readFileSync, readlinkSync } from "node:fs";

/** A socket a process holds: TCP in LISTEN, or any bound UDP socket. */
export interface BoundSocket {
  proto: "tcp" | "udp";
  /** Dotted IPv4, or "::"/"::1"-style hex for IPv6 (enough to tell loopback from any). */
  address: string;
  port: number;
}

const TCP_LISTEN = "0A";

/** Sockets of `pid` that accept connections (TCP) or datagrams (UDP), IPv4 and IPv6. */
export function boundSockets(pid: number): BoundSocket[] {
  const inodes = new Set<string>();
  for (const fd of readdirSync(`/proc/${pid}/fd`)) {
    try {
      const m = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${pid}/fd/${fd}`));
      if (m) inodes.add(m[1]!);
    } catch {
      // The descriptor closed while we looked.
    }
  }
  const found: BoundSocket[] = [];
  for (const table of ["tcp", "tcp6", "udp", "udp6"] as const) {
    const proto = table.startsWith("tcp") ? "tcp" : "udp";
    for (const line of readFileSync(`/proc/${pid}/net/${table}`, "utf8").split("\n").slice(1)) {
      const f = line.trim().split(/\s+/);
      if (f.length < 10 || !inodes.has(f[9]!)) continue;
      if (proto === "tcp" && f[3] !== TCP_LISTEN) continue;
      const [hexAddr, hexPort] = f[1]!.split(":") as [string, string];
      found.push({ proto, address: decodeAddress(hexAddr), port: parseInt(hexPort, 16) });
    }
  }
  return found;
}

/** /proc/net prints IPv4 as one little-endian hex word; IPv6 is left in hex, loopback and any named. */
function decodeAddress(hex: string): string {
  if (hex.length === 8) return [6, 4, 2, 0].map((i) => parseInt(hex.slice(i, i + 2), 16)).join(".");
  if (/^0+$/.test(hex)) return "::";
  if (hex === "00000000000000000000000001000000") return "::1";
  return hex;
}
