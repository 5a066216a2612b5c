import { describe, expect, test } from "bun:test";
import { join } from "node:path";
import { restartCommand, selfCommand, startedAsCoffee, type RuntimeView } from "./selfCommand.ts";

const ENTRY = join(import.meta.dir, "main.ts");
const compiled: RuntimeView = { main: "/$bunfs/root/coffee", execPath: "/usr/local/bin/coffee", execArgv: ["--smol"] };
const source: RuntimeView = { main: ENTRY, execPath: "/usr/bin/bun", execArgv: ["--cpu-prof"] };

describe("starting coffee again", () => {
  test("a compiled binary restarts as itself: BUN_OPTIONS flags stay in the environment, not in argv", () => {
    expect(selfCommand(compiled)).toEqual(["/usr/local/bin/coffee"]);
    expect(restartCommand(compiled)).toEqual(["/usr/local/bin/coffee"]);
    expect(startedAsCoffee(compiled)).toBe(true);
  });

  test("from source, Bun's own flags go before the entry, which is a plain path", () => {
    expect(selfCommand(source)).toEqual(["/usr/bin/bun", ENTRY]);
    expect(restartCommand(source)).toEqual(["/usr/bin/bun", "--cpu-prof", ENTRY]);
    expect(startedAsCoffee(source)).toBe(true);
  });

  test("a test file importing coffee's modules is not coffee", () => {
    expect(startedAsCoffee({ ...source, main: join(import.meta.dir, "selfCommand.test.ts") })).toBe(false);
  });
});
