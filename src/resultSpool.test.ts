import { afterEach, describe, expect, test } from "bun:test";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { WalError } from "./errors.ts";
import { fileSpool, memorySpool, type ResultSpool } from "./resultSpool.ts";

const dirs: string[] = [];
const fresh = (): string => {
  const d = mkdtempSync(join(tmpdir(), "coffee-spool-"));
  dirs.push(d);
  return d;
};
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

const A = "0b7e3a52-0000-4000-8000-00000000000a";
const B = "0b7e3a52-0000-4000-8000-00000000000b";

describe.each([
  ["file", (): ResultSpool => fileSpool(fresh())],
  ["memory", (): ResultSpool => memorySpool()],
] as const)("%s spool", (_, make) => {
  test("reads back what each session appended, by ref", () => {
    const spool = make();
    const a1 = spool.append(A, "id,total\n1,2.50\n");
    const b1 = spool.append(B, "other session\n");
    const a2 = spool.append(A, "ñandú,☕\n");
    spool.sync();
    expect(spool.read(A, a2)).toBe("ñandú,☕\n");
    expect(spool.read(A, a1)).toBe("id,total\n1,2.50\n");
    expect(spool.read(B, b1)).toBe("other session\n");
    spool.close();
  });

  test("drop and retain forget sessions", () => {
    const spool = make();
    const a = spool.append(A, "a");
    const b = spool.append(B, "b");
    spool.retain(new Set([B]));
    expect(() => spool.read(A, a)).toThrow(WalError);
    expect(spool.read(B, b)).toBe("b");
    spool.drop(B);
    expect(() => spool.read(B, b)).toThrow(WalError);
    spool.close();
  });
});

describe("file spool", () => {
  test("chunks are on disk, not in memory: another spool on the same directory reads them after sync", () => {
    const d = fresh();
    const fsyncs: string[] = [];
    const spool = fileSpool(d, (_, kind) => fsyncs.push(kind));
    const ref = spool.append(A, "x".repeat(300_000));
    spool.sync();
    // The new file's data, then its directory entry; nothing more to do on the next sync.
    expect(fsyncs).toEqual(["records", "directory"]);
    spool.sync();
    expect(fsyncs.length).toBe(2);
    spool.close();
    expect(readFileSync(join(d, `${A}.chunks`)).length).toBe(300_000);
    const again = fileSpool(d);
    expect(again.read(A, ref)).toBe("x".repeat(300_000));
    // Appends after a restart go after what is there.
    const next = again.append(A, "more");
    expect(next.offset).toBe(300_000);
    expect(again.read(A, next)).toBe("more");
    again.close();
  });

  test("retain deletes files a crash left behind, drop deletes a session's file", () => {
    const d = fresh();
    writeFileSync(join(d, `${B}.chunks`), "left behind");
    writeFileSync(join(d, "notes.txt"), "not ours");
    const spool = fileSpool(d);
    spool.append(A, "kept");
    spool.retain(new Set([A]));
    expect(readdirSync(d).sort()).toEqual([`${A}.chunks`, "notes.txt"]);
    spool.drop(A);
    expect(existsSync(join(d, `${A}.chunks`))).toBe(false);
    // Reading a dropped session fails without creating its file again.
    expect(() => spool.read(A, { offset: 0, length: 4 })).toThrow(WalError);
    expect(existsSync(join(d, `${A}.chunks`))).toBe(false);
    spool.close();
  });

  test("a ref past the end of the file is WAL_CORRUPT; a session id that is not one is refused", () => {
    const spool = fileSpool(fresh());
    spool.append(A, "short");
    spool.sync();
    let err: unknown = null;
    try {
      spool.read(A, { offset: 2, length: 100 });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(WalError);
    expect((err as WalError).code).toBe("WAL_CORRUPT");
    expect(() => spool.append("../escape", "x")).toThrow(WalError);
    spool.close();
  });
});
