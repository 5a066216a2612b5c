/** Free-port helpers for `coffee up`, which chooses every port but the gateway's. */

/** A UDP port that was free a moment ago (bound to port 0, then released). */
export async function freeUdpPort(): Promise<number> {
  const s = await Bun.udpSocket({ port: 0, hostname: "127.0.0.1" });
  const port = s.port;
  s.close();
  return port;
}

/** A TCP port that was free a moment ago. */
export function freeTcpPort(): number {
  const server = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } });
  const port = server.port;
  server.stop(true);
  return port;
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
