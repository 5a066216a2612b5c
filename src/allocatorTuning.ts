/**
 * Allocator settings every coffee process runs with, applied by re-executing the process once at
 * start (src/processTuning.ts, imported first by src/main.ts).
 *
 * Why: Bun's allocator (mimalloc) gives freed pages back to the OS within ~100 ms and takes them
 * back with one page fault per 4 KiB when memory is allocated again. A coffee process frees and
 * reallocates megabytes per batch (reads, frames, message bodies), so where page faults are dear
 * (virtual machines: ~20 µs each on the machine the benches ran on) that churn was most of the
 * run: reduced scale took 15.3 s with the allocator's default and 5.8 s with
 * MIMALLOC_PURGE_DELAY=-1, which keeps freed pages for reuse (bench/README.md). The price is that
 * a process keeps its peak resident memory; the heap governor (src/heapGovernor.ts) bounds that
 * peak. A MIMALLOC_PURGE_DELAY already in the environment wins (100 restores Bun's default).
 */
import { restartCommand } from "./selfCommand.ts";

/** Environment variables the allocator reads at process start, with coffee's values. */
export const ALLOCATOR_ENV: Readonly<Record<string, string>> = { MIMALLOC_PURGE_DELAY: "-1" };

/** What re-executing needs from the runtime, so the decision is testable in-process. */
export interface ProcessImage {
  env: Record<string, string | undefined>;
  platform: string;
  /** The command line after the executable and entry (what main() receives). */
  args: readonly string[];
  /** argv prefix that starts this process again (src/selfCommand.ts restartCommand). */
  self: readonly string[];
  execve: ((file: string, args: string[], env: Record<string, string>) => never) | undefined;
}

/** The allocator variables `env` lacks; empty when the process already runs with them (or the user chose). */
export function missingAllocatorEnv(env: Record<string, string | undefined>): Record<string, string> {
  return Object.fromEntries(Object.entries(ALLOCATOR_ENV).filter(([name]) => env[name] === undefined));
}

/**
 * Replace this process (same pid, same open files) by itself with the allocator variables set,
 * when any is missing and the platform can exec. Returns only when nothing needed doing or exec
 * is not available; a failing exec is not fatal, the process just runs with the defaults.
 */
export function applyAllocatorEnv(image: ProcessImage): void {
  const missing = missingAllocatorEnv(image.env);
  if (Object.keys(missing).length === 0 || image.execve === undefined || image.platform === "win32") return;
  const env = Object.fromEntries(Object.entries(image.env).filter((e): e is [string, string] => e[1] !== undefined));
  const [file, ...prefix] = image.self;
  if (file === undefined) return;
  try {
    image.execve(file, [file, ...prefix, ...image.args], { ...env, ...missing });
  } catch {
    // No exec (a sandbox, say): run on with the allocator's defaults rather than not at all.
  }
}

/** This process's image, for applyAllocatorEnv. */
export function currentProcessImage(): ProcessImage {
  return {
    env: process.env,
    platform: process.platform,
    args: process.argv.slice(2),
    self: restartCommand(),
    execve: typeof process.execve === "function" ? process.execve.bind(process) : undefined,
  };
}
