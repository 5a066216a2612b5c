/**
 * Carries election messages between monitors over TCP: one JSON line per message on a short
 * connection. Peers that are down simply do not receive (the election's timeouts handle that);
 * garbage on the listening port is ignored.
 */
import type { TCPSocketListener } from "bun";
import { isIPv6 } from "node:net";
import { ConfigError, errorMessage } from "./errors.ts";
import { isConnectablePort, splitHostPort } from "./hostPort.ts";

/** Where each monitor id listens. */
export type PeerAddresses = ReadonlyMap<number, { host: string; port: number }>;

/** Parse `1=127.0.0.1:7101,2=[::1]:7102` into addresses by numeric id. */
export function parsePeers(spec: string): Map<number, { host: string; port: number }> {
  const peers = new Map<number, { host: string; port: number }>();
  for (const part of spec.split(",").map((p) => p.trim()).filter(Boolean)) {
    const m = /^(\d+)=(.*)$/.exec(part);
    const address = m ? (splitHostPort(m[2]!) ?? bareIpv6(m[2]!)) : null;
    if (!m || !address) throw new ConfigError(`--peers: "${part}" is not id=host:port (IPv6 in brackets: 1=[::1]:9200)`);
    if (peers.has(Number(m[1]))) throw new ConfigError(`--peers: id ${m[1]} is listed twice`);
    // Port 0 would listen somewhere the other monitors cannot know.
    if (!isConnectablePort(address.port)) throw new ConfigError(`--peers: "${part}" has port ${address.port}, not 1..65535`);
    peers.set(Number(m[1]), address);
  }
  return peers;
}

/** `::1:9200`: IPv6 without brackets, which --peers took before it shared --gateway's parser; the last colon ends the address. */
function bareIpv6(text: string): { host: string; port: number } | null {
  const m = /^(.+):(\d{1,5})$/.exec(text);
  return m && isIPv6(m[1]!) ? { host: m[1]!, port: Number(m[2]) } : null;
}

/** A listening election endpoint. */
export interface ElectionTransport {
  send(to: number, message: unknown): void;
  close(): void;
}

/**
 * Listen on `host:port` and deliver every well-formed JSON line to `onMessage`. Lines that are
 * not JSON are dropped (anyone may connect); an error thrown by `onMessage` is a bug of ours,
 * handed to `onHandlerError` rather than taken for bad input.
 */
export function startElectionTransport(port: number, host: string, peers: PeerAddresses, onMessage: (message: unknown) => void, onHandlerError: (err: unknown) => void): ElectionTransport {
  let server: TCPSocketListener<{ buf: string }>;
  try {
    server = listenForPeers(port, host, onMessage, onHandlerError);
  } catch (err) {
    // Bun says only "Failed to listen at <host>": name the port and the options that set it. A
    // port in use or a foreign address is a refusal (CONFIG_INVALID, exit 2): it fails again at
    // every restart. Anything else (out of descriptors) may pass, and goes as it came.
    const code = (err as NodeJS.ErrnoException | null)?.code;
    if (code !== "EADDRINUSE" && code !== "EADDRNOTAVAIL") throw err;
    throw new ConfigError(`cannot listen for election messages on ${host}:${port} (--election-port, or this id's port in --peers): ${code === "EADDRINUSE" ? "in use by another process" : "not an address of this machine"} (${errorMessage(err)})`);
  }
  return {
    send(to, message) {
      const addr = peers.get(to);
      if (!addr) return;
      const line = JSON.stringify(message) + "\n";
      Bun.connect({ hostname: addr.host, port: addr.port, socket: { open(s) { s.write(line); s.end(); }, data() {}, error() {} } })
        .catch(() => {}); // a peer that is down misses the message, as over a lossy network
    },
    close: () => server.stop(true),
  };
}

/** Bind the election port; each well-formed JSON line received goes to `onMessage`. */
function listenForPeers(port: number, host: string, onMessage: (message: unknown) => void, onHandlerError: (err: unknown) => void): TCPSocketListener<{ buf: string }> {
  return Bun.listen<{ buf: string }>({
    hostname: host,
    port,
    socket: {
      open(s) {
        s.data = { buf: "" };
      },
      data(s, chunk) {
        s.data.buf += new TextDecoder().decode(chunk);
        if (s.data.buf.length > 64 * 1024) return void s.end(); // not an election peer
        let nl: number;
        while ((nl = s.data.buf.indexOf("\n")) >= 0) {
          const line = s.data.buf.slice(0, nl);
          s.data.buf = s.data.buf.slice(nl + 1);
          let message: unknown;
          try {
            message = JSON.parse(line);
          } catch {
            continue; // not JSON: not from a peer
          }
          try {
            onMessage(message);
          } catch (err) {
            onHandlerError(err);
          }
        }
      },
      error() {},
    },
  });
}
