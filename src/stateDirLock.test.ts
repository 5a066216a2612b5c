import { afterAll, expect, test } from "bun:test";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ConfigError } from "./errors.ts";
import { lockStateDir } from "./stateDirLock.ts";

const root = mkdtempSync(join(tmpdir(), "coffee-lock-"));
afterAll(() => rmSync(root, { recursive: true, force: true }));

test.skipIf(process.platform !== "linux")("a held state directory is refused with the holder's pid; released, it is taken again", () => {
  const dir = join(root, "new", "agg-q1");
  const first = lockStateDir(dir);
  expect(first).toMatchObject({ locked: true, unlockedBecause: null });
  expect(readFileSync(join(dir, "LOCK"), "utf8")).toBe(`${process.pid}\n`);
  // flock belongs to the open file: a second open in this very process conflicts like another process would.
  expect(() => lockStateDir(dir)).toThrow(ConfigError);
  expect(() => lockStateDir(dir)).toThrow(`state directory ${dir} is in use by another process (pid ${process.pid})`);
  first.release();
  const again = lockStateDir(dir);
  expect(again.locked).toBe(true);
  again.release();
});
