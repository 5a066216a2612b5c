import { afterEach, expect, spyOn, test } from "bun:test";
import { ConfigError } from "../errors.ts";
import { startHealthServer, type HealthServer, type HealthStatus } from "../health.ts";
import { pingCommand } from "./ping.ts";

let server: HealthServer | null = null;
afterEach(() => server?.close());

/** Run `coffee ping` in-process; its exit code and what it wrote. */
async function ping(to: string, timeoutMs = 500, ready = false): Promise<{ code: number; out: string; err: string }> {
  let out = "";
  let err = "";
  const stdout = spyOn(process.stdout, "write").mockImplementation((chunk) => ((out += String(chunk)), true));
  const stderr = spyOn(process.stderr, "write").mockImplementation((chunk) => ((err += String(chunk)), true));
  try {
    return { code: await pingCommand.run({ to, "timeout-ms": timeoutMs, ready }), out, err };
  } finally {
    stdout.mockRestore();
    stderr.mockRestore();
  }
}

test("a process that answers OK: exit 0; one that does not: exit 1 naming the address", async () => {
  server = await startHealthServer({ port: 0, host: "127.0.0.1", status: () => ({ role: "worker", name: "w" }) });
  const up = await ping(`127.0.0.1:${server.port}`);
  expect(up.code).toBe(0);
  expect(up.out).toStartWith(`OK from 127.0.0.1:${server.port} in `);
  const port = server.port;
  server.close();
  server = null;
  const down = await ping(`127.0.0.1:${port}`, 200);
  expect(down).toEqual({ code: 1, out: "", err: `coffee ping: no OK from 127.0.0.1:${port} within 200 ms\n` });
});

test("an address that is not host:port, or a port out of range, is a ConfigError", async () => {
  for (const to of ["nope", "127.0.0.1:0", "127.0.0.1:70000", "http://x:1"]) await expect(ping(to)).rejects.toBeInstanceOf(ConfigError);
});

test("--ready: a process still starting, or reconnecting to its broker, answers but is not ready; connected, blocked or brokerless (a monitor) it is", async () => {
  let status: HealthStatus = { role: "gateway", name: "gateway", state: "starting" };
  server = await startHealthServer({ port: 0, host: "127.0.0.1", status: () => status });
  const to = `127.0.0.1:${server.port}`;
  expect(await ping(to, 500, true)).toEqual({ code: 1, out: "", err: `coffee ping: ${to} answers but is not ready: it is starting (waiting for its broker)\n` });
  // Connected, still starting: replaying its log.
  status = { role: "aggregator", name: "agg-q1", state: "starting", broker: "connected" };
  expect(await ping(to, 500, true)).toEqual({ code: 1, out: "", err: `coffee ping: ${to} answers but is not ready: it is starting (its broker is connected; replaying its log)\n` });
  // Lost during its replay: said as lost, not as connected.
  status = { role: "aggregator", name: "agg-q1", state: "starting", broker: "reconnecting" };
  expect((await ping(to, 500, true)).err).toBe(`coffee ping: ${to} answers but is not ready: it has lost its broker and is reconnecting\n`);
  // Without --ready, alive is enough.
  expect((await ping(to)).code).toBe(0);
  status = { role: "gateway", name: "gateway", state: "running", broker: "reconnecting" };
  expect(await ping(to, 500, true)).toEqual({ code: 1, out: "", err: `coffee ping: ${to} answers but is not ready: it has lost its broker and is reconnecting\n` });
  for (const ok of [{ role: "gateway", name: "gateway", state: "running", broker: "connected" }, { role: "worker", name: "w", state: "running", broker: "blocked" }, { role: "monitor", name: "monitor-1", state: "leader" }]) {
    status = ok;
    expect((await ping(to, 500, true)).code).toBe(0);
  }
});
