import { expect, test } from "bun:test";
import { LogThrottle } from "./logThrottle.ts";
import { warningOfSlowFsyncs } from "./slowFsyncWarning.ts";

test("every fsync is observed; one of a second or more is said at once, the next within the minute counted into the next line", () => {
  let now = 0;
  const observed: [number, string][] = [];
  const warned: string[] = [];
  const onFsync = warningOfSlowFsyncs<string>((s, k) => void observed.push([s, k]), { warn: (m) => void warned.push(m) }, new LogThrottle(60_000, () => now));
  onFsync(0.004, "records");
  expect(warned).toEqual([]);
  onFsync(1.25, "records");
  expect(warned).toHaveLength(1);
  expect(warned[0]).toStartWith("an fsync (records) took 1.3 s: the disk is slow");
  now = 30_000;
  onFsync(3, "file");
  onFsync(0.5, "directory");
  expect(warned).toHaveLength(1);
  now = 61_000;
  onFsync(2, "spool-records");
  expect(warned[1]).toStartWith("an fsync (spool-records) took 2.0 s (2 fsyncs of 1 s or more since the last such line)");
  expect(observed.map(([, k]) => k)).toEqual(["records", "records", "file", "directory", "spool-records"]);
});
