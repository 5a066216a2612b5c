import { expect, test } from "bun:test";
import { ignoredIn, startedIgnoring } from "./ignoredSignal.ts";

test("reads a signal's bit in SigIgn", () => {
  const nohup = "Name:\tcoffee\nSigBlk:\t0000000000000000\nSigIgn:\t0000000000000001\nSigCgt:\t0000000000000000\n";
  expect(ignoredIn(nohup, "SIGHUP")).toBe(true);
  expect(ignoredIn(nohup, "SIGINT")).toBe(false);
  const background = "SigIgn:\t0000000000004002\n";
  expect(ignoredIn(background, "SIGINT")).toBe(true);
  expect(ignoredIn(background, "SIGTERM")).toBe(true);
  expect(ignoredIn(background, "SIGHUP")).toBe(false);
  expect(ignoredIn("no mask here", "SIGHUP")).toBe(false);
});

test("a child started by nohup sees SIGHUP ignored", async () => {
  const code = `import { startedIgnoring } from ${JSON.stringify(`${import.meta.dir}/ignoredSignal.ts`)}; console.log(startedIgnoring("SIGHUP"));`;
  const run = async (argv: string[]): Promise<string> => {
    const p = Bun.spawn(argv, { stdout: "pipe", stderr: "pipe" });
    return (await new Response(p.stdout).text()).trim();
  };
  expect(await run(["nohup", process.execPath, "-e", code])).toBe("true");
  // Without nohup the child inherits whatever this test process has (a CI job may ignore it too).
  expect(await run([process.execPath, "-e", code])).toBe(String(startedIgnoring("SIGHUP")));
});
