/**
 * `coffee ping`: one health PING (UDP) to a process, exit 0 when it answers OK. For container
 * health checks (compose's `healthcheck`), whose images have no UDP tool of their own.
 */
import type { Command } from "../command.ts";
import { ConfigError } from "../errors.ts";
import { pingHealth } from "../health.ts";
import { isConnectablePort, splitHostPort } from "../hostPort.ts";
import { int, str, type OptionSpec } from "../options.ts";

const OPTIONS: readonly OptionSpec[] = [
  { name: "to", type: "string", env: "COFFEE_PING_TO", default: "127.0.0.1:9101", help: "host:port of the process's health responder (its --health-port)" },
  { name: "timeout-ms", type: "int", env: "COFFEE_PING_TIMEOUT_MS", default: 1000, min: 1, max: 60_000, help: "how long to wait for the reply" },
];

/** `coffee ping`. */
export const pingCommand: Command = {
  name: "ping",
  usage: "coffee ping [--to host:port] [--timeout-ms N]",
  description: "Sends one health PING to a process and exits 0 if it answers OK within the timeout, 1 if not (a container health check).",
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
    process.stdout.write(`OK from ${to} in ${reply.rttMs.toFixed(1)} ms\n`);
    return 0;
  },
};
