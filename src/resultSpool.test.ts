import { afterEach, describe, expect, test } from "bun:test";
import { closeSync, existsSync, fstatSync, mkdirSync, mkdtempSync, openSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { InternalError, WalError } from "./errors.ts";
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

/** The WalError `f` throws; anything else thrown, or nothing, fails the test. */
function walErrorFrom(f: () => unknown): WalError {
  try {
    f();
  } catch (err) {
    expect(err).toBeInstanceOf(WalError);
    return err as WalError;
  }
  throw new Error("expected a WalError, nothing was thrown");
}

const A = "0b7e3a52-0000-4000-8000-00000000000a";
const B = "0b7e3a52-0000-4000-8000-00000000000b";

describe.each([
  ["file", (): ResultSpool => fileSpool(fresh())],
  ["memory", (): ResultSpool => memorySpool()],
] as const)("%s spool", (_, make) => {
  test("reads back what each session appended, by ref", async () => {
    const spool = make();
    const a1 = spool.append(A, "id,total\n1,2.50\n");
    const b1 = spool.append(B, "other session\n");
    const a2 = spool.append(A, "ñandú,☕\n");
    await spool.sync();
    expect(spool.read(A, a2)).toBe("ñandú,☕\n");
    expect(spool.read(A, a1)).toBe("id,total\n1,2.50\n");
    expect(spool.read(B, b1)).toBe("other session\n");
    spool.close();
  });

  test("a chunk that starts with U+FEFF (a store name may) reads back whole", async () => {
    const spool = make();
    const ref = spool.append(A, "\uFEFFstore 1,1990-01-01\n");
    await spool.sync();
    expect(spool.read(A, ref)).toBe("\uFEFFstore 1,1990-01-01\n");
    spool.close();
  });

  test("covers says whether a ref's bytes are held", async () => {
    const spool = make();
    const a = spool.append(A, "held");
    await spool.sync();
    expect(spool.covers(A, a)).toBe(true);
    expect(spool.covers(A, { offset: a.offset + 1, length: a.length })).toBe(false);
    expect(spool.covers(B, a)).toBe(false);
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
  test("a drop or close while a sync runs closes no descriptor the sync still holds (nor one reused since)", async () => {
    const d = fresh();
    const spool = fileSpool(d);
    spool.append(A, "a");
    spool.append(B, "b");
    const syncing = spool.sync();
    spool.drop(B);
    // Would take the number of B's descriptor, had the drop closed it.
    const unrelated = openSync(join(d, "unrelated"), "w");
    await syncing;
    expect(() => fstatSync(unrelated)).not.toThrow();
    closeSync(unrelated);
    spool.append(A, "c");
    const again = spool.sync();
    spool.close();
    await again;
  });

  test("an append made while a sync runs waits for the next sync, through the file opened again", async () => {
    const d = fresh();
    const fsyncs: string[] = [];
    const spool = fileSpool(d, (_, kind) => fsyncs.push(kind));
    const openFds = (): number => readdirSync("/proc/self/fd").length;
    const before = openFds();
    const one = spool.append(A, "one,");
    const syncing = spool.sync(); // takes A's descriptor before its fsync starts
    const two = spool.append(A, "two,");
    const three = spool.append(B, "three");
    await syncing;
    fsyncs.length = 0;
    await spool.sync();
    // Both files' new bytes, and B's directory entry: nothing of them was in the first sync.
    expect(fsyncs).toEqual(["spool-records", "spool-records", "spool-directory"]);
    expect(openFds()).toBe(before);
    expect([spool.read(A, one), spool.read(A, two), spool.read(B, three)]).toEqual(["one,", "two,", "three"]);
    expect(two.offset).toBe(one.length);
    spool.close();
  });

  test("chunks are on disk, not in memory: another spool on the same directory reads them after sync", async () => {
    const d = fresh();
    const fsyncs: string[] = [];
    const spool = fileSpool(d, (_, kind) => fsyncs.push(kind));
    const ref = spool.append(A, "x".repeat(300_000));
    await spool.sync();
    // The new file's data, then its directory entry, and the folder's own (see below); nothing
    // more to do on the next sync.
    expect(fsyncs).toEqual(["spool-records", "spool-directory", "spool-directory"]);
    await spool.sync();
    expect(fsyncs.length).toBe(3);
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
    expect(walErrorFrom(() => spool.read(A, { offset: 0, length: 4 })).code).toBe("WAL_CORRUPT");
    expect(existsSync(join(d, `${A}.chunks`))).toBe(false);
    spool.close();
  });

  test("a ref past the end of the file is WAL_CORRUPT; a session id that is not one is refused", async () => {
    const spool = fileSpool(fresh());
    spool.append(A, "short");
    await spool.sync();
    const err = walErrorFrom(() => spool.read(A, { offset: 2, length: 100 }));
    expect(err.code).toBe("WAL_CORRUPT");
    expect(() => spool.append("../escape", "x")).toThrow(InternalError);
    spool.close();
  });

  test("the first sync after every open makes the directory's entry and the files' entries durable, in case a killed gateway left them unsynced", async () => {
    const parent = fresh();
    const fsyncs: string[] = [];
    const spool = fileSpool(join(parent, "results"), (_, kind) => fsyncs.push(kind));
    expect(existsSync(join(parent, "results"))).toBe(true);
    // None at the open itself: its fsyncs run off the event loop, at the first sync, which comes
    // before the log can point at anything in the spool.
    expect(fsyncs).toEqual([]);
    await spool.sync();
    expect(fsyncs).toEqual(["spool-directory", "spool-directory"]);
    spool.close();
    // A file a previous process created but never synced: it exists now, so no later sync would
    // count it as new; the first sync after the open is what makes its entry durable.
    writeFileSync(join(parent, "results", `${A}.chunks`), "");
    fsyncs.length = 0;
    const reopened = fileSpool(join(parent, "results"), (_, kind) => fsyncs.push(kind));
    reopened.append(A, "after the restart");
    await reopened.sync();
    expect(fsyncs).toEqual(["spool-records", "spool-directory", "spool-directory"]);
    fsyncs.length = 0;
    reopened.append(A, "and more");
    await reopened.sync();
    expect(fsyncs).toEqual(["spool-records"]);
    reopened.close();
  });

  test("a file that vanished after its first sync fails the next append instead of being recreated with a hole", async () => {
    const d = fresh();
    const spool = fileSpool(d);
    spool.append(A, "first chunk");
    await spool.sync();
    rmSync(join(d, `${A}.chunks`));
    const err = walErrorFrom(() => spool.append(A, "second chunk"));
    expect(err.code).toBe("WAL_IO_FAILED");
    expect(existsSync(join(d, `${A}.chunks`))).toBe(false);
    spool.close();
  });

  test("a descriptor is open only between a session's appends and the next sync", async () => {
    const spool = fileSpool(fresh());
    const openFds = (): number => readdirSync("/proc/self/fd").length;
    const before = openFds();
    const sessions = Array.from({ length: 50 }, (_, i) => `0b7e3a52-0000-4000-8000-${String(i).padStart(12, "0")}`);
    const refs = sessions.map((s) => spool.append(s, `chunk of ${s}`));
    expect(openFds()).toBeGreaterThanOrEqual(before + 50);
    await spool.sync();
    expect(openFds()).toBe(before);
    // Reading and appending again work after the descriptors were closed.
    expect(spool.read(sessions[7]!, refs[7]!)).toBe(`chunk of ${sessions[7]}`);
    const more = spool.append(sessions[7]!, "more");
    expect(more.offset).toBe(refs[7]!.offset + refs[7]!.length);
    await spool.sync();
    expect(spool.read(sessions[7]!, more)).toBe("more");
    expect(openFds()).toBe(before);
    spool.close();
  });

  test("a failed append fails every later append and sync (the files' state is unknown)", async () => {
    const d = fresh();
    const spool = fileSpool(d);
    const kept = spool.append(A, "fine");
    await spool.sync();
    // A directory where B's file would go: opening it for writing fails.
    mkdirSync(join(d, `${B}.chunks`));
    const err = walErrorFrom(() => spool.append(B, "x"));
    expect(err.code).toBe("WAL_IO_FAILED");
    expect(() => spool.append(A, "more")).toThrow(err);
    await expect(spool.sync()).rejects.toThrow(err);
    // What was durable before stays readable.
    expect(spool.read(A, kept)).toBe("fine");
    spool.close();
  });

  test("an fsync observer that throws does not fail the sync", async () => {
    const spool = fileSpool(fresh(), () => {
      throw new Error("observer broke");
    });
    const ref = spool.append(A, "still durable");
    await spool.sync();
    expect(spool.read(A, ref)).toBe("still durable");
    spool.append(A, "and it goes on");
    await spool.sync();
    spool.close();
  });
});
