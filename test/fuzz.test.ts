/**
 * Protocol fuzz test (issue 5, point 4): while one honest client runs a session, a seeded fuzzer
 * (test/fuzzer.ts) sends ≥ 10 000 random, truncated, oversized, header-bomb and type-confused
 * frames, and valid messages in invalid orders, over many connections to an in-process gateway.
 * The gateway must never throw, the honest results must equal the reference exactly, memory
 * must stay bounded and every fuzz session must be gone once its connection is.
 *
 * FUZZ_SEED=<n> runs another seed, FUZZ_FRAMES=<n> changes the frame budget. When a run fails,
 * the connections under way are printed with `describeConnection(seed, index)` (exact bytes).
 */
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { rmSync } from "node:fs";
import { defaultClientConfig, runClient, type ClientOutcome } from "../roles/client.ts";
import { defaultGatewayConfig } from "../roles/gateway.ts";
import { generateDataset, parseMonthRange } from "../src/generator.ts";
import { startInProcessCluster, type InProcessCluster } from "../src/inProcessCluster.ts";
import { MemoryBroker, MemoryTransport } from "../src/memoryTransport.ts";
import { computeReference } from "../src/reference.ts";
import { describeConnection, FUZZ_CATEGORIES, newFuzzStats, runFuzzer, type FuzzStats } from "./fuzzer.ts";
import { readResults, tempDir } from "./harness.ts";

setDefaultTimeout(90_000);

/** Fixed default seed; override with FUZZ_SEED. */
const SEED = Number(process.env.FUZZ_SEED ?? 20_250_905);
/** Frames sent after the warm-up (the total is larger by the warm-up's frames). */
const FRAMES = Number(process.env.FUZZ_FRAMES ?? 10_000);
const WARMUP_FRAMES = 1_000;
const CONCURRENCY = 20;
/** RSS growth allowed between warm-up and the end (generous: the point is "not unbounded"). */
const RSS_GROWTH_LIMIT = 300 * 1024 * 1024;
/** Fuzzing goes on while the honest session runs, but not past this (test time budget). */
const HONEST_FUZZ_CAP_MS = 40_000;
/** A session of a closed connection is purged this long after it closed. */
const SESSION_TTL_MS = 200;

const GATEWAY = defaultGatewayConfig({ host: "127.0.0.1", port: 0, maxSessions: 50, sessionTtlMs: SESSION_TTL_MS });

function gatewayStatus(cluster: InProcessCluster): Record<string, unknown> {
  const gw = cluster.roles.find((r) => r.role === "gateway");
  if (!gw) throw new Error("no gateway role in the cluster");
  return gw.instance.status();
}

/** Open gateway sessions, from the gateway role's status. */
function gatewaySessions(cluster: InProcessCluster): number {
  return Number(gatewayStatus(cluster).sessions);
}

async function waitFor(pred: () => boolean, ms: number, pollMs = 20): Promise<boolean> {
  const deadline = performance.now() + ms;
  while (!pred()) {
    if (performance.now() > deadline) return false;
    await Bun.sleep(pollMs);
  }
  return true;
}

function summary(stats: FuzzStats, seconds: number): string {
  const cats = FUZZ_CATEGORIES.map((c) => `${c}=${stats.byCategory[c].connections}c/${stats.byCategory[c].frames}f`).join(" ");
  const replies = Object.entries(stats.replies).sort(([a], [b]) => a.localeCompare(b)).map(([k, v]) => `${k}=${v}`).join(" ");
  return `fuzz seed ${SEED}: ${stats.framesSent} frames, ${stats.bytesSent} bytes over ${stats.connections} connections in ${seconds.toFixed(1)} s ` +
    `(closed by gateway ${stats.closedByGateway}, terminated ${stats.terminated}, connect errors ${stats.connectErrors})\n` +
    `  categories (connections/frames): ${cats}\n  gateway replies seen: ${replies}\n` +
    `  ${Object.keys(stats.byVariant).length} variants: ${Object.entries(stats.byVariant).sort(([a], [b]) => a.localeCompare(b)).map(([k, v]) => `${k}=${v}`).join(" ")}`;
}

describe("protocol fuzz", () => {
  let data: string;
  let expected: Record<string, string>;
  const dirs: string[] = [];
  // Shared with afterAll: under `bun test` an uncaught error fails the test at once and its body
  // is abandoned, so cleanup and the failure report must not depend on the body finishing.
  let cluster: InProcessCluster | null = null;
  let stats: FuzzStats = newFuzzStats();
  let completed = false;
  const abort = new AbortController();
  const uncaught: unknown[] = [];
  const onError = (err: unknown): void => {
    uncaught.push(err);
  };
  // Roles log ERROR lines only for faults of their own (never for a client's bad input).
  const roleErrors: string[] = [];
  const realWrite = process.stderr.write.bind(process.stderr);

  beforeAll(async () => {
    data = tempDir("fdata");
    dirs.push(data);
    await generateDataset({ out: data, seed: 11, months: parseMonthRange("2024-12..2025-01"), transactionsPerMonth: 1500, users: 300, stores: 10, menuItems: 8 });
    expected = (await computeReference(data)).queries;
  });

  afterAll(async () => {
    abort.abort();
    if (!completed) {
      // `bun test` reports uncaught errors itself (above), before its listeners would see them.
      console.log(`fuzz seed ${SEED} did not complete; collected uncaught errors: ${uncaught.map(String).join("; ") || "none"}; ` +
        "connections under way (most likely culprits), then the last started:");
      const suspects = [...new Set([...stats.active, ...stats.started.slice(-CONCURRENCY)])];
      for (const i of suspects) {
        try {
          console.log(describeConnection(SEED, i));
        } catch (err) {
          console.log(`seed ${SEED} connection #${i}: cannot be described: ${String(err)}`);
        }
      }
    }
    // Let connections under way close before the gateway goes.
    await waitFor(() => stats.open === 0, 5_000);
    await cluster?.shutdown();
    cluster = null;
    process.stderr.write = realWrite;
    process.off("uncaughtException", onError);
    process.off("unhandledRejection", onError);
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  });

  test(`seed ${SEED}: gateway survives ≥ ${FRAMES} hostile frames; honest session exact; memory and sessions bounded`, async () => {
    // Under `bun test` the runner itself fails the test on any uncaught error or unhandled
    // rejection; these collectors catch them wherever the runner does not.
    process.on("uncaughtException", onError);
    process.on("unhandledRejection", onError);
    process.stderr.write = ((chunk: string | Uint8Array, ...rest: unknown[]): boolean => {
      const text = typeof chunk === "string" ? chunk : new TextDecoder().decode(chunk);
      if (/ ERROR /.test(text)) roleErrors.push(text.trim());
      return (realWrite as (c: string | Uint8Array, ...r: unknown[]) => boolean)(chunk, ...rest);
    }) as typeof process.stderr.write;

    const broker = new MemoryBroker();
    const c = await startInProcessCluster(GATEWAY, new Map(), () => new MemoryTransport(broker, "fuzz"), true);
    cluster = c;
    stats = newFuzzStats();
    const started = performance.now();
    const port = c.gatewayPort();
    const out = tempDir("fout");
    dirs.push(out);

    // Small batches and window: the honest upload lasts long enough to overlap the fuzzing.
    let honestEnd = 0;
    const honest: Promise<ClientOutcome> = runClient(defaultClientConfig({ dataDir: data, outDir: out, host: "127.0.0.1", port, batchRows: 10, window: 2, quiet: true }))
      .finally(() => (honestEnd = performance.now()));
    honest.catch(() => {});
    // The honest session holds its slot before the fuzzer can fill the session table.
    expect(await waitFor(() => Number(gatewayStatus(c).sessionsStarted) >= 1, 10_000)).toBe(true);

    // Mostly keep below the session limit so that session-level fuzzing gets past hello (some
    // hellos still meet a full table: that error path is fuzzed too).
    const pace = async (): Promise<void> => {
      await waitFor(() => gatewaySessions(c) < GATEWAY.maxSessions - 5, 1_000, 5);
    };
    const fuzz = { host: "127.0.0.1", port, seed: SEED, concurrency: CONCURRENCY, stats, signal: abort.signal, pace };
    const warm = await runFuzzer({ ...fuzz, minFrames: WARMUP_FRAMES });
    Bun.gc(true);
    const rssWarm = process.memoryUsage().rss;
    // The honest session is fuzzed all its life: keep going until it ended (within a time cap).
    const honestRunning = (): boolean => honestEnd === 0 && performance.now() - started < HONEST_FUZZ_CAP_MS;
    await runFuzzer({ ...fuzz, minFrames: FRAMES, startIndex: warm.nextIndex, continueWhile: honestRunning });
    const fuzzEnd = performance.now();

    const outcome = await honest;
    console.log(summary(stats, (fuzzEnd - started) / 1000));
    console.log(`  honest session: ${outcome.rowsSent} rows in ${outcome.seconds.toFixed(1)} s, ${honestEnd <= fuzzEnd ? "fuzzed from start to end" : `fuzzed for its first ${((fuzzEnd - started) / 1000).toFixed(1)} s`}`);

    // Every fuzz connection is closed; their sessions are purged by the TTL (or ended by errors).
    expect(stats.open).toBe(0);
    const drained = await waitFor(() => gatewaySessions(c) === 0, 10_000);
    Bun.gc(true);
    const rssEnd = process.memoryUsage().rss;
    const gw = gatewayStatus(c);
    console.log(`  gateway: sessions started ${gw.sessionsStarted}, finished ${gw.sessionsFinished}, purged ${gw.sessionsPurged}, rejected full ${gw.rejectedFull}, open now ${gw.sessions}; ` +
      `rss after warm-up ${(rssWarm / 2 ** 20).toFixed(0)} MiB, at end ${(rssEnd / 2 ** 20).toFixed(0)} MiB`);

    expect(uncaught).toEqual([]);
    expect(roleErrors).toEqual([]);
    expect(readResults(outcome.dir)).toEqual({ q1: expected.q1!, q2: expected.q2!, q3: expected.q3!, q4: expected.q4! });
    expect(stats.framesSent).toBeGreaterThanOrEqual(FRAMES);
    expect(stats.badReplies).toBe(0);
    expect(stats.connectErrors).toBe(0);
    expect(drained).toBe(true);
    expect(rssEnd - rssWarm).toBeLessThan(RSS_GROWTH_LIMIT);
    completed = true;
  });
});
