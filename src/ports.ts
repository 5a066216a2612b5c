/** Free-port helpers for `coffee up`, which chooses every port but the gateway's. */
import { readFileSync } from "node:fs";
import { ConfigError } from "./errors.ts";

// Draws are random, so two can repeat; `coffee up` draws a dozen ports, and two processes told
// to serve on one port would each be reachable as the other: a ledger keeps them apart.
const MAX_PORT_DRAWS = 64;
const givenUdp = new Set<number>();
const givenTcp = new Set<number>();

/**
 * Ports are drawn below the kernel's ephemeral range: every outgoing connection (to RabbitMQ,
 * a health ping) takes its local port from that range, and one that took a port between its
 * draw and its listener's bind held it for as long as it lived (a gateway then failed to listen
 * for a minute). Below the range only listeners compete, and the test bind sees those.
 */
const LOWEST_PORT = 10_000;

let ephemeral: [number, number] | null = null;

/** The kernel's ephemeral range [low, high], read once; Linux's default where /proc cannot say. */
function ephemeralRange(): [number, number] {
  return (ephemeral ??= readEphemeralRange());
}

function readEphemeralRange(): [number, number] {
  try {
    const [low, high] = readFileSync("/proc/sys/net/ipv4/ip_local_port_range", "utf8").trim().split(/\s+/).map(Number);
    if (low !== undefined && high !== undefined && Number.isInteger(low) && Number.isInteger(high)) return [low, high];
  } catch {
    // Not Linux, or no /proc: assume the default.
  }
  return [32768, 60999];
}

/** A port to try: below the ephemeral range when there is room, else above it, else anywhere from LOWEST_PORT. */
function candidatePort(): number {
  const [low, high] = ephemeralRange();
  if (low - LOWEST_PORT >= 1000) return LOWEST_PORT + Math.floor(Math.random() * (low - LOWEST_PORT));
  return high < 65535 ? high + 1 + Math.floor(Math.random() * (65535 - high)) : LOWEST_PORT + Math.floor(Math.random() * (65535 - LOWEST_PORT));
}

/** A UDP port that was free a moment ago and that this process has not handed out before. */
export async function freeUdpPort(): Promise<number> {
  for (let attempt = 0; attempt < MAX_PORT_DRAWS; attempt++) {
    const port = candidatePort();
    if (givenUdp.has(port)) continue;
    try {
      // Every address: a listener on any one of them would take the port from ours.
      (await Bun.udpSocket({ port, hostname: "0.0.0.0" })).close();
    } catch {
      continue;
    }
    givenUdp.add(port);
    return port;
  }
  throw portsExhausted("UDP");
}

/** A TCP port that was free a moment ago and that this process has not handed out before. */
export function freeTcpPort(): number {
  for (let attempt = 0; attempt < MAX_PORT_DRAWS; attempt++) {
    const port = candidatePort();
    if (givenTcp.has(port) || !tcpPortFree(port, "0.0.0.0")) continue;
    givenTcp.add(port);
    return port;
  }
  throw portsExhausted("TCP");
}

/** Keeps freeTcpPort from handing out `port`, which the caller chose and means to listen on. */
export function claimTcpPort(port: number): void {
  givenTcp.add(port);
}

function portsExhausted(kind: string): ConfigError {
  return new ConfigError(`no free ${kind} port this process has not handed out already, after ${MAX_PORT_DRAWS} draws; free some ports below net.ipv4.ip_local_port_range`);
}

/** True when something accepts TCP connections at host:port. */
export async function tcpAccepts(host: string, port: number): Promise<boolean> {
  try {
    const s = await Bun.connect({ hostname: host, port, socket: { data() {} } });
    s.end();
    return true;
  } catch {
    return false;
  }
}

/** True when nothing listens on TCP `host:port` yet (we could bind it a moment ago). */
export function tcpPortFree(port: number, host = "127.0.0.1"): boolean {
  try {
    Bun.listen({ hostname: host, port, socket: { data() {} } }).stop(true);
    return true;
  } catch {
    return false;
  }
}
