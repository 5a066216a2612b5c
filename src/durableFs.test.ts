import { afterEach, expect, test } from "bun:test";
import { closeSync, mkdtempSync, openSync, readFileSync, realpathSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { createDurableDir, ensureDurableDir, writeAll } from "./durableFs.ts";
import { WalError } from "./errors.ts";

const made: string[] = [];
afterEach(() => {
  for (const d of made.splice(0)) rmSync(d, { recursive: true, force: true });
});

function fresh(): string {
  const d = realpathSync(mkdtempSync(join(tmpdir(), "coffee-durablefs-")));
  made.push(d);
  return d;
}

/** Every directory from `dir`'s parent up to the root of its filesystem, nearest first. */
function parentsOnDevice(dir: string): string[] {
  const device = statSync(dir).dev;
  const out: string[] = [];
  for (let p = dir; p !== dirname(p) && statSync(dirname(p)).dev === device; p = dirname(p)) out.push(dirname(p));
  return out;
}

test("a new nested directory: every entry on its path is fsynced, up to its filesystem's root", () => {
  const base = fresh();
  const target = join(base, "a", "b");
  const synced: string[] = [];
  createDurableDir(target, (_fd, d) => synced.push(d));
  expect(statSync(target).isDirectory()).toBe(true);
  expect(synced).toEqual(parentsOnDevice(target));
  expect(synced).toContain(join(base, "a"));
});

test("an existing directory is climbed again: a start killed after its mkdir left entries unsynced", () => {
  const base = fresh();
  createDurableDir(join(base, "x"), () => {});
  const synced: string[] = [];
  createDurableDir(join(base, "x"), (_fd, d) => synced.push(d));
  expect(synced[0]).toBe(base);
});

test("a directory that may not be opened ends the climb; any other failure is thrown", () => {
  const base = fresh();
  const denied = Object.assign(new Error("denied"), { code: "EACCES" });
  const synced: string[] = [];
  createDurableDir(join(base, "y"), (_fd, d) => {
    if (d === dirname(base)) throw denied;
    synced.push(d);
  });
  expect(synced).toEqual([base]);
  expect(() => createDurableDir(join(base, "z"), () => { throw Object.assign(new Error("io"), { code: "EIO" }); })).toThrow("io");
});

test("ensureDurableDir names the directory it could not make (WAL_IO_FAILED)", () => {
  const base = fresh();
  const file = join(base, "file");
  writeFileSync(file, "x");
  try {
    ensureDurableDir(join(file, "below"));
    throw new Error("ensureDurableDir did not throw");
  } catch (err) {
    expect(err).toBeInstanceOf(WalError);
    expect((err as WalError).code).toBe("WAL_IO_FAILED");
    expect((err as WalError).message).toContain(join(file, "below"));
  }
});

test("writeAll writes every byte at the position given", () => {
  const path = join(fresh(), "f");
  writeFileSync(path, "0123456789");
  const fd = openSync(path, "r+");
  try {
    writeAll(fd, new TextEncoder().encode("abc"), 4);
  } finally {
    closeSync(fd);
  }
  expect(readFileSync(path, "utf8")).toBe("0123abc789");
});
