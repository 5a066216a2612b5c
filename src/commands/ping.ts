/**
 * `coffee ping`: one health PING (UDP) to a process, exit 0 when it answers OK. For container
 * health checks (compose's `healthcheck`), whose images have no UDP tool of their own.
 */
import type { Command } from "../command.ts";
import { brokerLinkOf } from "../clusterView.ts";
import { ConfigError } from "../errors.ts";
import { pingHealth } from "../health.ts";
import { isConnectablePort, splitHostPort } from "../hostPort.ts";
import { bool, int, str, type OptionSpec } from "../options.ts";

/**
 * Why a process that answered is not ready to work, from its health status; null when it is.
 * Alive is not ready: a role answers `starting` while it opens its first broker connection (no
 * `broker` field yet) and then while it replays its log, and `broker: reconnecting` once it lost
 * its broker; it moves no data meanwhile.
 */
export function notReadyReason(status: Record<string, unknown>): string | null {
  const link = brokerLinkOf(status);
  if (link === "reconnecting") return "it has lost its broker and is reconnecting";
  if (link === "connecting") return "it is starting (waiting for its broker)";
  if (status.state === "starting") return "it is starting (its broker is connected; replaying its log)";
  return null;
}

const OPTIONS: readonly OptionSpec[] = [
  { name: "to", type: "string", env: "COFFEE_PING_TO", default: "127.0.0.1:9101", help: "host:port of the process's health responder (its --health-port)" },
  { name: "timeout-ms", type: "int", env: "COFFEE_PING_TIMEOUT_MS", default: 1000, min: 1, max: 60_000, help: "how long to wait for the reply" },
  { name: "ready", type: "bool", env: "COFFEE_PING_READY", default: false, help: "exit 0 only if the process is also ready to work: not still starting (connecting to its broker, then replaying its log), and not reconnecting to its broker (the compose file's healthchecks use it)" },
];

/** `coffee ping`. */
export const pingCommand: Command = {
  name: "ping",
  usage: "coffee ping [--to host:port] [--timeout-ms N] [--ready]",
  description: "Sends one health PING to a process and exits 0 if it answers OK within the timeout (with --ready: and is connected to its broker), 1 if not (a container health check).",
  options: OPTIONS,
  async run(values) {
    const to = str(values, "to");
    const address = splitHostPort(to);
    if (!address || !isConnectablePort(address.port)) throw new ConfigError(`--to must be host:port (IPv6 in brackets, port 1..65535), got "${to}"`);
    const timeoutMs = int(values, "timeout-ms");
    const reply = await pingHealth(address.host, address.port, timeoutMs);
    if (!reply) {
      process.stderr.write(`coffee ping: no OK from ${to} within ${timeoutMs} ms\n`);
      return 1;
    }
    const notReady = bool(values, "ready") ? notReadyReason(reply.status) : null;
    if (notReady) {
      process.stderr.write(`coffee ping: ${to} answers but is not ready: ${notReady}\n`);
      return 1;
    }
    process.stdout.write(`OK from ${to} in ${reply.rttMs.toFixed(1)} ms\n`);
    return 0;
  },
};
