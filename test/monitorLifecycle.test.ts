/**
 * A monitor created in-process (roles/monitor.ts createMonitor): it leads alone, its shutdown cuts
 * the pause between health rounds short, and everything it opened is closed afterwards.
 */
import { afterEach, expect, test } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createMonitor, type MonitorConfig } from "../roles/monitor.ts";
import { ConfigError } from "../src/errors.ts";
import { pingHealth } from "../src/health.ts";
import type { Logger } from "../src/log.ts";
import { freeTcpPort, freeUdpPort, tcpAccepts } from "../src/ports.ts";

let dir = "";
afterEach(() => rmSync(dir, { recursive: true, force: true }));

/** A logger that keeps its lines and resolves `seen(pattern)` once one matches. */
function listeningLogger(): Logger & { seen(pattern: RegExp): Promise<string> } {
  const lines: string[] = [];
  const waiting: { pattern: RegExp; resolve: (line: string) => void }[] = [];
  const add = (line: string): void => {
    lines.push(line);
    for (const w of waiting.filter((w) => w.pattern.test(line))) {
      waiting.splice(waiting.indexOf(w), 1);
      w.resolve(line);
    }
  };
  return {
    info: add, warn: add, error: add,
    seen: (pattern) => new Promise((resolve) => {
      const line = lines.find((l) => pattern.test(l));
      if (line !== undefined) resolve(line);
      else waiting.push({ pattern, resolve });
    }),
  };
}

/** A lone monitor that revives nothing, watching an empty cluster; one health round a minute. */
async function lonelyConfig(): Promise<MonitorConfig> {
  dir = mkdtempSync(join(tmpdir(), "coffee-monitor-"));
  const clusterFile = join(dir, "cluster.json");
  writeFileSync(clusterFile, "[]");
  return {
    name: "monitor-1", namespace: "coffee", id: 1, peers: new Map(), electionPort: freeTcpPort(), electionHost: "127.0.0.1", electionKey: null, clusterFile,
    healthPort: await freeUdpPort(), healthHost: "127.0.0.1", metricsPort: 0, metricsHost: "127.0.0.1",
    intervalMs: 60_000, timeoutMs: 100, missesToDown: 3, heartbeatMs: 50, leaderTimeoutMs: 200, hungAfterMs: 30_000,
    revival: { mode: "none", dockerSocket: "/nonexistent", initialMs: 250, maxMs: 8000, maxAttempts: 10 },
    dashboard: { port: 0, host: "127.0.0.1", allowedHosts: [] },
  };
}

/** The monitor's election state as its health answer says it (null: no answer). */
async function electionState(port: number): Promise<unknown> {
  return (await pingHealth("127.0.0.1", port, 200))?.status.state ?? null;
}

test("a lone monitor leads; shutdown ends it without waiting out --interval-ms, and closes its ports", async () => {
  const cfg = await lonelyConfig();
  const log = listeningLogger();
  const monitor = await createMonitor(cfg, log);
  expect(monitor.state).toBe("running");
  const ran = monitor.run();
  await log.seen(/^leader now: monitor-1 \(term \d+\)$/);
  expect(await electionState(cfg.healthPort)).toBe("leader");
  // The first round ran at once; the next is a minute away. A shutdown that waited for it would
  // outlast the test's 5 s timeout.
  await monitor.shutdown();
  await ran;
  expect(monitor.state).toBe("stopped");
  expect(await electionState(cfg.healthPort)).toBeNull();
  expect(await tcpAccepts("127.0.0.1", cfg.electionPort)).toBe(false);
});

test("a monitor shut down before it ran closes what create() opened", async () => {
  const cfg = await lonelyConfig();
  const monitor = await createMonitor(cfg, listeningLogger());
  expect(await electionState(cfg.healthPort)).not.toBeNull();
  await monitor.shutdown();
  expect(monitor.state).toBe("stopped");
  expect(await electionState(cfg.healthPort)).toBeNull();
  expect(await tcpAccepts("127.0.0.1", cfg.electionPort)).toBe(false);
});

test("a monitor that cannot start (its health port taken) closes the election port it had opened", async () => {
  const cfg = await lonelyConfig();
  const squatter = await Bun.udpSocket({ hostname: "127.0.0.1", port: cfg.healthPort });
  try {
    let err: unknown = null;
    await createMonitor(cfg, listeningLogger()).catch((e: unknown) => (err = e));
    expect(err).toBeInstanceOf(ConfigError);
    expect(await tcpAccepts("127.0.0.1", cfg.electionPort)).toBe(false);
  } finally {
    squatter.close();
  }
});
