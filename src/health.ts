/**
 * UDP health mechanism every coffee process runs: a datagram `PING` on the health port is
 * answered with `OK <json>`. Built on Bun.udpSocket (Bun's node:dgram has exited the process on
 * ECONNREFUSED). Notes on Bun.udpSocket (1.4.5): `send` takes numeric addresses only (hostnames
 * throw "Invalid address"); the `error` handler is called as `error(err)` with the socket as
 * `this`, not `(socket, err)` as typed; without an `error` handler an ICMP ECONNREFUSED, even on
 * an unconnected socket, exits the process.
 */
import { ConfigError, errorMessage } from "./errors.ts";
import type { OptionSpec } from "./options.ts";
import { LogThrottle } from "./logThrottle.ts";

/** `--health-host`, shared by every role: compose needs every interface, `coffee up` only loopback. */
export const HEALTH_HOST_OPTION: OptionSpec = {
  name: "health-host", type: "string", env: "HEALTH_HOST", default: "0.0.0.0",
  help: "address the UDP health responder binds (coffee up uses 127.0.0.1; a reply is larger than its PING, so a reachable responder can amplify spoofed traffic)",
};

/** A JSON value a health reply may carry (the gateway's reply nests session progress and queue depths). */
export type StatusValue = string | number | boolean | null | StatusValue[] | { [key: string]: StatusValue };

/** Small status a process reports in its health reply; `role` and `name` identify it. */
export interface HealthStatus {
  role: string;
  name: string;
  sessions?: number;
  [extra: string]: StatusValue | undefined;
}

/** A running health responder. */
export interface HealthServer {
  /** The bound UDP port (the OS-chosen one when started with port 0). */
  readonly port: number;
  /** Datagrams that were not `PING` (garbage, binary, oversized) and were dropped. */
  readonly ignored: number;
  /** Stop answering and free the port; safe to call twice. */
  close(): void;
}

/** Answer to a successful ping. */
export interface HealthReply {
  ok: true;
  /** The JSON after `OK` ({} if absent or not a JSON object). */
  status: Record<string, unknown>;
  rttMs: number;
}

const MAX_PING_BYTES = 64;
const ERROR_LOG_INTERVAL_MS = 60_000;

/** The socket error, whichever way Bun passes it to the `error` handler. */
function pickError(args: readonly unknown[]): unknown {
  return args.find((a) => a instanceof Error) ?? args[args.length - 1];
}

/**
 * Bind a UDP health responder on `host` (default 0.0.0.0) and `port` (0: OS-chosen). Non-PING
 * datagrams are counted and dropped; socket errors are swallowed and reported to `onError` at most
 * once per minute. The socket is unref'd: it never keeps the process alive on its own.
 */
export async function startHealthServer(opts: { port: number; host?: string; status: () => HealthStatus; onError?: (message: string) => void }): Promise<HealthServer> {
  const decoder = new TextDecoder();
  let ignored = 0;
  const errorLog = new LogThrottle(ERROR_LOG_INTERVAL_MS);
  const host = opts.host ?? "0.0.0.0";
  // A bind failure is thrown as the call is made, not only as a rejection: one try covers both.
  let socket: Bun.udp.Socket<"uint8array">;
  try {
    socket = await Bun.udpSocket({
      hostname: host,
      port: opts.port,
      binaryType: "uint8array",
      socket: {
        data(sock, data, port, address) {
          try {
            if (data.byteLength > MAX_PING_BYTES || decoder.decode(data).trim() !== "PING") {
              ignored++;
              return;
            }
            const { role, name, ...rest } = opts.status();
            const body = { role, name, uptimeMs: Math.round(process.uptime() * 1000), pid: process.pid, ...rest };
            sock.send(`OK ${JSON.stringify(body)}`, port, address);
          } catch (err) {
            report(err);
          }
        },
        error: (...args: unknown[]) => report(pickError(args)),
      },
    });
  } catch (err) {
    throw bindError(err, host, opts.port);
  }
  socket.unref();
  function report(err: unknown): void {
    if (!errorLog.due()) return;
    try {
      opts.onError?.(`health: ${errorMessage(err)}`);
    } catch {
      // a failing logger must not take the health responder down
    }
  }
  const port = socket.port;
  return {
    port,
    get ignored() {
      return ignored;
    },
    close: () => socket.close(),
  };
}

/** A bind failure the user can act on, named by its option; anything else as it came. */
function bindError(err: unknown, host: string, port: number): unknown {
  const code = (err as NodeJS.ErrnoException | null)?.code;
  // Named by value first: the port may come from HEALTH_PORT, or from coffee up, not a flag.
  if (code === "EADDRINUSE") return new ConfigError(`UDP health port ${port} on ${host} is in use (--health-port / HEALTH_PORT; 0 picks a free one)`);
  if (code === "EADDRNOTAVAIL") return new ConfigError(`health address ${host} is not an address of this machine (--health-host / HEALTH_HOST)`);
  return err;
}

/**
 * Send `PING` to `host:port` from an ephemeral socket. Resolves with the reply, or null when none
 * arrives within `timeoutMs`, the host does not resolve, or the port refuses (ICMP). Never throws.
 */
export async function pingHealth(host: string, port: number, timeoutMs: number): Promise<HealthReply | null> {
  let address: string;
  let family: number;
  try {
    const found = await Bun.dns.lookup(host);
    const pick = found.find((a) => a.family === 4) ?? found[0];
    if (!pick) return null;
    ({ address, family } = pick);
  } catch {
    return null;
  }
  return new Promise<HealthReply | null>((resolve) => {
    const sent = performance.now();
    let socket: { close(): void } | undefined;
    let timer: ReturnType<typeof setTimeout> | undefined;
    let done = false;
    const finish = (reply: HealthReply | null): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      socket?.close();
      resolve(reply);
    };
    timer = setTimeout(() => finish(null), timeoutMs);
    // A ping to this machine waits for its reply on loopback only, and the reply must come from
    // the address pinged. Off loopback a multi-homed responder may answer from another address
    // (and UDP sources are easy to forge anyway), so there only the port is checked.
    const loopback = family === 6 ? address === "::1" : address.startsWith("127.");
    Bun.udpSocket({
      hostname: loopback ? (family === 6 ? "::1" : "127.0.0.1") : family === 6 ? "::" : "0.0.0.0",
      port: 0,
      socket: {
        data(_sock, data, fromPort, fromAddress) {
          const text = data.toString("utf8");
          if (fromPort !== port || (loopback && fromAddress !== address) || !text.startsWith("OK")) return;
          let status: Record<string, unknown> = {};
          try {
            const parsed: unknown = JSON.parse(text.slice(2));
            if (parsed !== null && typeof parsed === "object" && !Array.isArray(parsed)) status = parsed as Record<string, unknown>;
          } catch {
            // `OK` without (valid) JSON still means alive
          }
          finish({ ok: true, status, rttMs: performance.now() - sent });
        },
        error: () => finish(null),
      },
    }).then(
      (sock) => {
        socket = sock;
        if (done) sock.close();
        else sock.send("PING", port, address);
      },
      () => finish(null),
    ).catch(() => finish(null));
  });
}
