import { afterEach, expect, test } from "bun:test";
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { WalError } from "./errors.ts";
import { finishSetAside, SET_ASIDE_MARKER, setAsideFolders, setAsideState } from "./stateSetAside.ts";

let dir = "";
afterEach(() => rmSync(dir, { recursive: true, force: true }));

/** A state directory as an aggregator leaves it: lock, log, snapshot, spilled runs. */
function stateDir(): string {
  dir = mkdtempSync(join(tmpdir(), "coffee-aside-"));
  writeFileSync(join(dir, "LOCK"), "123\n");
  writeFileSync(join(dir, "wal-0000000000000001.log"), "records");
  writeFileSync(join(dir, "snapshot-0000000000000009.bin"), "state");
  mkdirSync(join(dir, "spill", "s1"), { recursive: true });
  writeFileSync(join(dir, "spill", "s1", "run-1"), "rows");
  return dir;
}

test("moves everything but the lock into a corrupt-<time> folder, contents intact", () => {
  const d = stateDir();
  const aside = setAsideState(d, new Date("2026-12-07T04:05:06.789Z"));
  expect(aside).toBe(join(d, "corrupt-2026-12-07T04-05-06-789Z"));
  expect(readdirSync(d).sort()).toEqual(["LOCK", "corrupt-2026-12-07T04-05-06-789Z"]);
  expect(readdirSync(aside).sort()).toEqual(["snapshot-0000000000000009.bin", "spill", "wal-0000000000000001.log"]);
  expect(readFileSync(join(aside, "wal-0000000000000001.log"), "utf8")).toBe("records");
  expect(readFileSync(join(aside, "spill", "s1", "run-1"), "utf8")).toBe("rows");
  expect(readFileSync(join(d, "LOCK"), "utf8")).toBe("123\n");
});

test("a second set-aside leaves the first one where it is, even within the same millisecond", () => {
  const d = stateDir();
  const at = new Date("2026-12-07T04:05:06.789Z");
  const first = setAsideState(d, at);
  writeFileSync(join(d, "wal-0000000000000001.log"), "newer records");
  const second = setAsideState(d, at);
  expect(second).toBe(`${first}-2`);
  expect(readdirSync(d).sort()).toEqual(["LOCK", "corrupt-2026-12-07T04-05-06-789Z", "corrupt-2026-12-07T04-05-06-789Z-2"]);
  expect(readdirSync(first).sort()).toEqual(["snapshot-0000000000000009.bin", "spill", "wal-0000000000000001.log"]);
  expect(readFileSync(join(second, "wal-0000000000000001.log"), "utf8")).toBe("newer records");
});

test("a state path it cannot use is WAL_IO_FAILED naming it", () => {
  const d = stateDir();
  // A file where the directory should be: nothing can be made or moved inside it.
  const notADir = join(d, "LOCK");
  let err: unknown = null;
  try {
    setAsideState(notADir);
  } catch (e) {
    err = e;
  }
  expect(err).toBeInstanceOf(WalError);
  expect((err as WalError).code).toBe("WAL_IO_FAILED");
  expect((err as WalError).message).toContain(`cannot set the state in ${notADir} aside`);
});

test("a set-aside cut short after some moves is finished by the next start: the rest moves to the same folder, the marker goes", () => {
  const d = stateDir();
  // As a crash leaves it: the folder and the marker durable, the log moved, the snapshot and spill not yet.
  const name = "corrupt-2026-12-07T04-05-06-789Z";
  mkdirSync(join(d, name));
  writeFileSync(join(d, SET_ASIDE_MARKER), name);
  renameSync(join(d, "wal-0000000000000001.log"), join(d, name, "wal-0000000000000001.log"));
  expect(finishSetAside(d)).toBe(join(d, name));
  expect(readdirSync(d).sort()).toEqual(["LOCK", name]);
  expect(readdirSync(join(d, name)).sort()).toEqual(["snapshot-0000000000000009.bin", "spill", "wal-0000000000000001.log"]);
  // Nothing under way any more.
  expect(finishSetAside(d)).toBeNull();
});

test("no set-aside under way: nothing moves; a marker naming no set-aside folder is WAL_CORRUPT and moves nothing", () => {
  const d = stateDir();
  expect(finishSetAside(d)).toBeNull();
  expect(readdirSync(d).sort()).toEqual(["LOCK", "snapshot-0000000000000009.bin", "spill", "wal-0000000000000001.log"]);
  writeFileSync(join(d, SET_ASIDE_MARKER), "../elsewhere");
  expect(() => finishSetAside(d)).toThrow(expect.objectContaining({ code: "WAL_CORRUPT" }));
  expect(readdirSync(d).sort()).toEqual(["LOCK", SET_ASIDE_MARKER, "snapshot-0000000000000009.bin", "spill", "wal-0000000000000001.log"]);
});

test("a cluster's set-aside folders are listed by process, with the bytes they hold", () => {
  // A cluster's state directory: one process with a set-aside folder, one without.
  dir = mkdtempSync(join(tmpdir(), "coffee-aside-cluster-"));
  mkdirSync(join(dir, "gateway"));
  writeFileSync(join(dir, "gateway", "wal-0000000000000001.log"), "intact");
  mkdirSync(join(dir, "agg-q3", "spill", "s1"), { recursive: true });
  writeFileSync(join(dir, "agg-q3", "wal-0000000000000001.log"), "records");
  writeFileSync(join(dir, "agg-q3", "spill", "s1", "run-1"), "rows");
  setAsideState(join(dir, "agg-q3"), new Date("2026-12-07T04:05:06.789Z"));
  expect(setAsideFolders(dir)).toEqual([{ process: "agg-q3", folder: join("agg-q3", "corrupt-2026-12-07T04-05-06-789Z"), bytes: 11 }]);
  expect(setAsideFolders(join(dir, "no-such-dir"))).toEqual([]);
});
