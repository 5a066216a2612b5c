/** Free-port helpers for `coffee up`, which chooses every port but the gateway's. */
import { ConfigError } from "./errors.ts";

// The kernel chooses port 0 at random, so two draws can repeat; `coffee up` draws a dozen
// ports, and two processes told to serve on one port would each be reachable as the other.
const MAX_PORT_DRAWS = 64;
const givenUdp = new Set<number>();
const givenTcp = new Set<number>();

/** A UDP port that was free a moment ago and that this process has not handed out before. */
export async function freeUdpPort(): Promise<number> {
  for (let attempt = 0; attempt < MAX_PORT_DRAWS; attempt++) {
    const s = await Bun.udpSocket({ port: 0, hostname: "127.0.0.1" });
    const port = s.port;
    s.close();
    if (firstTime(givenUdp, port)) return port;
  }
  throw portsExhausted("UDP");
}

/** A TCP port that was free a moment ago and that this process has not handed out before. */
export function freeTcpPort(): number {
  for (let attempt = 0; attempt < MAX_PORT_DRAWS; attempt++) {
    const server = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } });
    const port = server.port;
    server.stop(true);
    if (firstTime(givenTcp, port)) return port;
  }
  throw portsExhausted("TCP");
}

/** Keeps freeTcpPort from handing out `port`, which the caller chose and means to listen on. */
export function claimTcpPort(port: number): void {
  givenTcp.add(port);
}

function firstTime(given: Set<number>, port: number): boolean {
  if (given.has(port)) return false;
  given.add(port);
  return true;
}

function portsExhausted(kind: string): ConfigError {
  return new ConfigError(`no free ${kind} port this process has not handed out already, after ${MAX_PORT_DRAWS} draws; widen net.ipv4.ip_local_port_range`);
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
