/** `host:port` as every address option writes it (--gateway, --peers). */

/**
 * Split `host:port`: a host is a name or an address, IPv6 in brackets (a zone allowed), which are
 * dropped; no scheme, path or spaces. Null when the text is not that shape. The port is not
 * range-checked: each caller refuses it in words naming its own option.
 */
export function splitHostPort(text: string): { host: string; port: number } | null {
  const m = /^([^\s/:[\]%]+|\[[0-9A-Fa-f:.]+(?:%[\w.-]+)?\]):(\d{1,5})$/.exec(text);
  if (!m) return null;
  return { host: m[1]!.replace(/^\[(.*)\]$/, "$1"), port: Number(m[2]) };
}

/** `host:port` as splitHostPort reads it back: an IPv6 address in brackets, before the port. */
export function joinHostPort(host: string, port: number): string {
  return `${host.includes(":") ? `[${host}]` : host}:${port}`;
}

/** True for a port a peer can connect to. */
export function isConnectablePort(port: number): boolean {
  return port >= 1 && port <= 65535;
}
