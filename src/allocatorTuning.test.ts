import { describe, expect, test } from "bun:test";
import { ALLOCATOR_ENV, applyAllocatorEnv, missingAllocatorEnv, type ProcessImage } from "./allocatorTuning.ts";

/** An image whose execve records its call instead of replacing the test runner. */
function image(env: Record<string, string | undefined>, over: Partial<ProcessImage> = {}): ProcessImage & { calls: [string, string[], Record<string, string>][] } {
  const calls: [string, string[], Record<string, string>][] = [];
  return {
    env, platform: "linux", args: ["--role", "client", "--data", "d"], self: ["/usr/bin/bun", "/src/main.ts"],
    execve: ((file: string, args: string[], e: Record<string, string>) => { calls.push([file, args, e]); }) as unknown as ProcessImage["execve"],
    calls, ...over,
  };
}

describe("allocator settings", () => {
  test("a process started without them re-executes itself once, same arguments, settings added", () => {
    const img = image({ PATH: "/bin", AMQP_URL: "amqp://x", UNSET: undefined });
    applyAllocatorEnv(img);
    expect(img.calls).toEqual([["/usr/bin/bun", ["/usr/bin/bun", "/src/main.ts", "--role", "client", "--data", "d"], { PATH: "/bin", AMQP_URL: "amqp://x", ...ALLOCATOR_ENV }]]);
  });

  test("a value already set is the user's choice: no re-execution", () => {
    const img = image({ MIMALLOC_PURGE_DELAY: "100" });
    expect(missingAllocatorEnv(img.env)).toEqual({});
    applyAllocatorEnv(img);
    expect(img.calls).toEqual([]);
  });

  test("without exec (Windows, or a runtime without it) the process runs on; a failing exec is not fatal", () => {
    const windows = image({}, { platform: "win32" });
    applyAllocatorEnv(windows);
    expect(windows.calls).toEqual([]);
    expect(() => applyAllocatorEnv(image({}, { execve: undefined }))).not.toThrow();
    const failing = image({}, { execve: (() => { throw new Error("EPERM"); }) as unknown as ProcessImage["execve"] });
    expect(() => applyAllocatorEnv(failing)).not.toThrow();
  });
});
