/**
 * Which Host headers coffee's HTTP endpoints for people and local tools answer (the dashboard,
 * coffee up's control API). A page on any web site can point a name it controls at 127.0.0.1
 * (DNS rebinding) and then talk to such an endpoint as its own origin; the browser still sends
 * that name as Host, so answering only names that mean this machine closes the hole.
 */
import { isIP } from "node:net";
import { hostname } from "node:os";

/**
 * True for a request whose Host is an IP address, localhost (or *.localhost), this machine's
 * name, or one of `extraNames` (a reverse proxy's name, say); also when there is no Host at
 * all (not a browser).
 */
export function hostAllowed(hostHeader: string | null, extraNames: readonly string[]): boolean {
  if (hostHeader === null) return true;
  const name = hostName(hostHeader.trim().toLowerCase());
  if (name === "") return false;
  if (isIP(name) !== 0 || name === "localhost" || name.endsWith(".localhost")) return true;
  const machine = hostname().toLowerCase();
  // A listed name may carry a port ("proxy.example:443"); the port is not what is checked.
  return name === machine || name === machine.split(".")[0] || extraNames.some((n) => hostName(n.trim().toLowerCase()) === name);
}

/** The name in a Host header, without its port or an IPv6 literal's brackets. */
function hostName(header: string): string {
  if (header.startsWith("[")) {
    const end = header.indexOf("]");
    return end < 0 ? "" : header.slice(1, end);
  }
  const colon = header.lastIndexOf(":");
  return colon >= 0 ? header.slice(0, colon) : header;
}
