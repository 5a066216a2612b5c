/**
 * Test harness: runs the real executable (`bun src/main.ts`) as processes — a `coffee up`
 * cluster, clients, gen, reference — against the real broker at AMQP_URL, and cleans up the
 * namespace's queues and exchange afterwards.
 */
import { afterAll } from "bun:test";
import { freeTcpPort } from "../src/ports.ts";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Subprocess } from "bun";
import { connectBroker } from "../src/brokerAddress.ts";
import { deleteNamespace } from "../src/namespaceAdmin.ts";
import { QUERIES, queryFileName } from "../src/schema.ts";

/** Broker used by integration tests. */
export const AMQP_URL = process.env.AMQP_URL ?? "amqp://guest:guest@127.0.0.1:5672";
const MAIN = join(import.meta.dir, "..", "src", "main.ts");

/** argv to run coffee from source. */
export function coffeeArgv(...args: string[]): string[] {
  return [process.execPath, MAIN, ...args];
}

/** A fresh temp directory (removed by `cleanup`). */
export function tempDir(prefix: string): string {
  return mkdtempSync(join(tmpdir(), `coffee-${prefix}-`));
}

/**
 * Temp directories for one test file, all removed once its tests are done: call at the file's
 * top level, then `scratch(prefix)` makes one.
 */
export function scratchDirs(): (prefix: string) => string {
  const made: string[] = [];
  afterAll(() => {
    for (const d of made) rmSync(d, { recursive: true, force: true });
  });
  return (prefix) => {
    const d = tempDir(prefix);
    made.push(d);
    return d;
  };
}

/** Run coffee to completion; returns exit code and output. */
export async function runCoffee(args: string[], env: Record<string, string> = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  const p = Bun.spawn(coffeeArgv(...args), { env: { ...process.env, ...env } as Record<string, string>, stdout: "pipe", stderr: "pipe" });
  const [stdout, stderr, code] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text(), p.exited]);
  return { code, stdout, stderr };
}

/** A unique namespace for one test's queues. */
export function uniqueNamespace(tag: string): string {
  return `t${Date.now().toString(36)}${Math.floor(Math.random() * 1e6).toString(36)}-${tag}`;
}


/** A running `coffee up`. */
export interface TestCluster {
  port: number;
  stateDir: string;
  namespace: string;
  proc: Subprocess;
  /** Resolves once coffee up's own log (its stderr) has a line matching `pattern`. */
  logged(pattern: RegExp): Promise<string>;
  stop(): Promise<void>;
}

/**
 * Start `coffee up` and resolve once it prints its `ready` line. `stop()` deletes the namespace
 * afterwards unless `keepNamespace` (a test whose private broker goes away with it: deleting
 * quorum queues with a member down waits out a timeout per queue).
 */
export async function startCluster(opts: { tag: string; extraArgs?: string[]; port?: number; env?: Record<string, string>; keepNamespace?: boolean }): Promise<TestCluster & { banner: string }> {
  const stateDir = tempDir(`state-${opts.tag}`);
  const namespace = uniqueNamespace(opts.tag);
  // A port the OS just handed out, not a random guess: a guess collided with a busy port once.
  const port = opts.port ?? freeTcpPort();
  const extra = opts.extraArgs ?? [];
  // The broker at AMQP_URL, not a fallback: with `auto`, a broker that does not answer would be
  // replaced in silence and a test of RabbitMQ would pass without it. Tests of the fallback say so.
  const transport = extra.includes("--transport") ? [] : ["--transport", "amqp"];
  const proc = Bun.spawn(coffeeArgv("up", "--state-dir", stateDir, "--port", String(port), "--namespace", namespace, "--monitors", "1", ...transport, ...extra), {
    env: { ...process.env, AMQP_URL, ...opts.env } as Record<string, string>,
    stdout: "pipe",
    stderr: "pipe",
  });
  // coffee up's log, read as it comes, so a test can wait for a line (an event, not a sleep).
  const stderr = watchedText(proc.stderr, "coffee up");
  const logged = (pattern: RegExp): Promise<string> => stderr.line(pattern);
  const reader = proc.stdout.getReader();
  let out = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) throw new Error(`coffee up exited before ready:\n${out}\n${await stderr.ended}`);
    out += new TextDecoder().decode(value);
    if (out.includes("ready")) break;
  }
  reader.releaseLock();
  return {
    port, stateDir, namespace, proc, banner: out, logged,
    stop: async () => {
      proc.kill("SIGTERM");
      await proc.exited;
      if (!opts.keepNamespace) await deleteNamespace({ url: opts.env?.AMQP_URL || AMQP_URL, ...(opts.env?.AMQP_CA_FILE ? { caFile: opts.env.AMQP_CA_FILE } : {}) }, namespace).catch(() => {});
      rmSync(stateDir, { recursive: true, force: true });
    },
  };
}

/**
 * Poll until `check` gives a value (neither null nor false), for what announces nothing to a test
 * (a process's log file, a page, health replies); throws after `ms`.
 */
export async function until<T>(what: string, check: () => Promise<T | null | false> | T | null | false, ms = 30_000, everyMs = 50): Promise<T> {
  const deadline = performance.now() + ms;
  for (;;) {
    const v = await check();
    if (v !== null && v !== false) return v;
    if (performance.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await Bun.sleep(everyMs);
  }
}

/** Delete a test's namespace at AMQP_URL: its topology's queues and exchange, and `ownQueues`, the queues the test declared itself (unprefixed). */
export async function deleteTestNamespace(namespace: string, ownQueues: readonly string[]): Promise<void> {
  const { conn } = await connectBroker({ url: AMQP_URL });
  try {
    const ch = await conn.createChannel();
    for (const q of ownQueues) await ch.deleteQueue(`${namespace}.${q}`);
  } finally {
    await conn.close();
  }
  await deleteNamespace({ url: AMQP_URL }, namespace);
}

/** Generate a dataset with `coffee gen`. */
export async function generate(dir: string, seed: number, args: string[] = []): Promise<void> {
  const r = await runCoffee(["gen", "--out", dir, "--seed", String(seed), "--quiet", ...args]);
  if (r.code !== 0) throw new Error(`coffee gen failed: ${r.stderr}`);
}

/** Compute the reference results of a dataset with `coffee reference`. */
export async function reference(dataDir: string): Promise<Record<string, string>> {
  const out = tempDir("ref");
  const r = await runCoffee(["reference", "--data", dataDir, "--out", out]);
  if (r.code !== 0) throw new Error(`coffee reference failed: ${r.stderr}`);
  const files = Object.fromEntries(QUERIES.map((q) => [q, readFileSync(join(out, queryFileName(q)), "utf8")]));
  rmSync(out, { recursive: true, force: true });
  return files;
}

/** Read a client's result files from its session directory. */
export function readResults(sessionDir: string): Record<string, string> {
  return Object.fromEntries(QUERIES.map((q) => [q, readFileSync(join(sessionDir, queryFileName(q)), "utf8")]));
}

/** The session directory a client printed in its summary line. */
export function sessionDirFrom(stdout: string): string {
  const m = /results in (\S+)/.exec(stdout);
  if (!m) throw new Error(`no results directory in client output: ${stdout}`);
  return m[1]!;
}

/** A slow client run whose middle a test can act in. */
export interface ClientRun {
  /** The client's process id. */
  pid: number;
  /** Resolves once the client reported progress (it is mid-upload). */
  underWay: Promise<void>;
  /** Resolves once the client has printed `count` lines matching `pattern` (no `g` flag; progress lines come every 100 ms); rejects if it exits first. */
  printed(pattern: RegExp, count?: number): Promise<void>;
  /** Resolves when the client exits. */
  finished: Promise<{ code: number; stdout: string; stderr: string }>;
}

/**
 * Start a client with small batches and a small window (so its upload takes a while) that
 * reports progress every 100 ms; `underWay` resolves at its first progress line.
 */
export function slowClient(port: number, data: string, out: string, batchRows = 25, window = 4): ClientRun {
  const p = Bun.spawn(coffeeArgv("--role", "client", "--data", data, "--out", out, "--gateway", `127.0.0.1:${port}`, "--batch-rows", String(batchRows), "--window", String(window), "--progress-ms", "100"), { stdout: "pipe", stderr: "pipe" });
  const stderr = new Response(p.stderr).text();
  const stdout = watchedText(p.stdout, "the client");
  // At its first progress line, or at its exit, whichever comes first.
  const underWay = stdout.line(/\d+ rows sent/).then(() => {}, () => {});
  const finished = (async () => ({ code: await p.exited, stdout: await stdout.ended, stderr: await stderr }))();
  const printed = async (pattern: RegExp, count = 1): Promise<void> => { await stdout.line(pattern, count); };
  return { pid: p.pid, underWay, printed, finished };
}

/** A process's output read as it comes: its text so far, all of it once it ends, and a wait for a line. */
export interface WatchedText {
  /** All of the text, once the stream ended. */
  ended: Promise<string>;
  /** Resolves with the `count`th line matching `pattern` (no `g` flag); rejects if the stream ends first. */
  line(pattern: RegExp, count?: number): Promise<string>;
}

/** Read `stream` (the output of `what`, for error messages) as it comes, so a test can wait for a line: an event, not a sleep. */
export function watchedText(stream: ReadableStream<Uint8Array>, what: string): WatchedText {
  let text = "";
  let done = false;
  const waiters = new Set<() => void>();
  const wakeAll = (): void => { for (const wake of waiters) wake(); };
  const ended = (async () => {
    const decoder = new TextDecoder();
    try {
      for await (const chunk of stream) {
        text += decoder.decode(chunk, { stream: true });
        wakeAll();
      }
    } finally {
      done = true;
      wakeAll();
    }
    return text;
  })();
  const line = async (pattern: RegExp, count = 1): Promise<string> => {
    for (;;) {
      // Whole lines only while it runs: the last piece may be a line still being written.
      const whole = done ? text : text.slice(0, text.lastIndexOf("\n") + 1);
      const found = whole.split("\n").filter((l) => pattern.test(l));
      if (found.length >= count) return found[count - 1]!;
      if (done) throw new Error(`${what} ended before printing ${count} line(s) matching ${pattern}:\n${text}`);
      await new Promise<void>((r) => {
        const wake = (): void => { waiters.delete(wake); r(); };
        waiters.add(wake);
      });
    }
  };
  return { ended, line };
}
