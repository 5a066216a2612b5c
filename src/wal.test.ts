import { afterEach, describe, expect, test } from "bun:test";
import {
  appendFileSync,
  cpSync,
  existsSync,
  fstatSync,
  fsyncSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  realpathSync,
  rmSync,
  statSync,
  symlinkSync,
  truncateSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ConfigError, WalError } from "./errors.ts";
import { RECORD_HEADER_BYTES, segmentFileName, snapshotFileName, Wal, type WalOptions } from "./wal.ts";

const dirs: string[] = [];
const fresh = (): string => {
  const d = mkdtempSync(join(tmpdir(), "coffee-wal-"));
  dirs.push(d);
  return d;
};
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

/** Deterministic payload number `i` (sizes vary, 0-length included). */
const rec = (i: number, size = (i * 7) % 23): Uint8Array => Uint8Array.from({ length: size }, (_, k) => (i * 31 + k) & 0xff);
const hex = (rs: Uint8Array[]): string[] => rs.map((r) => Buffer.from(r).toString("hex"));
const recs = (from: number, to: number): string[] => hex(Array.from({ length: to - from }, (_, k) => rec(from + k)));
const segments = (d: string): string[] => readdirSync(d).filter((n) => n.startsWith("wal-")).sort();
const snapshots = (d: string): string[] => readdirSync(d).filter((n) => n.startsWith("snapshot-")).sort();
const recordBytes = (i: number): number => RECORD_HEADER_BYTES + rec(i).length;

/** Append rec(from) .. rec(to - 1), committing every `group` records; the Wal stays open. */
async function fill(wal: Wal, from: number, to: number, group = 5): Promise<void> {
  for (let i = from; i < to; i++) {
    wal.append(rec(i));
    if ((i - from) % group === group - 1) await wal.commit();
  }
  await wal.commit();
}

/** A closed log in `d` holding rec(0) .. rec(n - 1) (lsn i + 1 holds rec(i)). */
async function logOf(d: string, n: number, opts: Partial<WalOptions> = {}): Promise<void> {
  const { wal } = await Wal.open({ dir: d, ...opts });
  await fill(wal, 0, n);
  await wal.close();
}

/** Lsns of the records in a segment file, parsed independently of wal.ts. */
function lsnsIn(file: string): number[] {
  const b = readFileSync(file);
  const out: number[] = [];
  for (let off = 0; off < b.length; off += RECORD_HEADER_BYTES + b.readUInt32BE(off)) out.push(Number(b.readBigUInt64BE(off + 8)));
  return out;
}

async function walError(work: Promise<unknown> | (() => unknown)): Promise<WalError> {
  try {
    await (typeof work === "function" ? work() : work);
  } catch (err) {
    expect(err).toBeInstanceOf(WalError);
    return err as WalError;
  }
  throw new Error("expected a WalError");
}

function snapshotOf(d: string): Map<string, string> {
  return new Map(readdirSync(d).map((n) => [n, readFileSync(join(d, n)).toString("hex")]));
}

function flip(file: string, at: number): void {
  const b = readFileSync(file);
  b[at]! ^= 0xff;
  writeFileSync(file, b);
}

describe("wal: write and recover", () => {
  test("round trip across reopen; close commits what is buffered", async () => {
    const d = fresh();
    const first = await Wal.open({ dir: join(d, "nested", "state") });
    expect(first.recovered).toMatchObject({ snapshot: null, recordCount: 0, recordBytes: 0, truncatedBytes: 0 });
    expect([...first.recovered.records()]).toEqual([]);
    expect(first.wal.lsn).toBe(0);
    await fill(first.wal, 0, 30);
    expect(first.wal.lsn).toBe(30);
    first.wal.append(rec(30));
    expect(first.wal.pendingRecords).toBe(1);
    await first.wal.close();
    await first.wal.close(); // idempotent

    const again = await Wal.open({ dir: join(d, "nested", "state") });
    expect(hex([...again.recovered.records()])).toEqual(recs(0, 31));
    expect(again.recovered.truncatedBytes).toBe(0);
    expect(again.wal.lsn).toBe(31);
    await fill(again.wal, 31, 40);
    await again.wal.close();
    const third = await Wal.open({ dir: join(d, "nested", "state") });
    expect(hex([...third.recovered.records()])).toEqual(recs(0, 40));
    await third.wal.close();
  });

  test("append copies its payload: later mutation by the caller changes nothing", async () => {
    const d = fresh();
    const { wal } = await Wal.open({ dir: d });
    const p = Uint8Array.of(1, 2, 3);
    wal.append(p);
    p[0] = 9;
    await wal.close();
    const { recovered } = await Wal.open({ dir: d });
    expect([...[...recovered.records()][0]!]).toEqual([1, 2, 3]);
  });

  test("group commit: many appends and concurrent commit() calls share ONE fdatasync", async () => {
    const d = fresh();
    let fileSyncs = 0;
    const fsync = (fd: number): void => {
      if (!fstatSync(fd).isDirectory()) fileSyncs++;
      fsyncSync(fd);
    };
    const { wal } = await Wal.open({ dir: d, fsync });
    const commits: Promise<void>[] = [];
    for (let i = 0; i < 500; i++) {
      wal.append(rec(i));
      commits.push(wal.commit());
    }
    expect(wal.lsn).toBe(0); // nothing durable before the flush runs
    await Promise.all(commits);
    expect(fileSyncs).toBe(1);
    expect(wal.lsn).toBe(500);
    expect(wal.pendingRecords).toBe(0);
    await wal.commit(); // nothing pending: no fsync
    expect(fileSyncs).toBe(1);
    wal.append(rec(500)); // requested after the first flush ran: served by the next
    await wal.commit();
    expect(fileSyncs).toBe(2);
    await wal.close();
    const { recovered } = await Wal.open({ dir: d });
    expect(hex([...recovered.records()])).toEqual(recs(0, 501));
  });

  test("segments roll over past segmentBytes, are named by their first lsn and replay in order", async () => {
    const d = fresh();
    await logOf(d, 60, { segmentBytes: 200 });
    const names = segments(d);
    expect(names.length).toBeGreaterThan(4);
    let next = 1;
    for (const name of names) {
      const lsns = lsnsIn(join(d, name));
      expect(name).toBe(segmentFileName(next));
      expect(lsns).toEqual(Array.from({ length: lsns.length }, (_, k) => next + k));
      // a segment takes records until it holds >= segmentBytes: at most one record past the limit
      expect(statSync(join(d, name)).size - recordBytes(next + lsns.length - 2)).toBeLessThan(200);
      next += lsns.length;
    }
    expect(next).toBe(61);
    const { wal, recovered } = await Wal.open({ dir: d, segmentBytes: 200 });
    expect(hex([...recovered.records()])).toEqual(recs(0, 60));
    await fill(wal, 60, 90);
    await wal.close();
    expect(hex([...(await Wal.open({ dir: d })).recovered.records()])).toEqual(recs(0, 90));
  });

  test("recovered records are read one segment at a time as they are replayed, not all at once", async () => {
    const d = fresh();
    await logOf(d, 60, { segmentBytes: 200 });
    const names = segments(d);
    const { wal, recovered } = await Wal.open({ dir: d, segmentBytes: 200 });
    expect(recovered.recordCount).toBe(60);
    expect(recovered.recordBytes).toBe(Array.from({ length: 60 }, (_, i) => rec(i).length).reduce((a, b) => a + b, 0));
    const it = recovered.records();
    const firstSegment = lsnsIn(join(d, names[0]!)).length;
    for (let i = 0; i < firstSegment; i++) expect(hex([it.next().value as Uint8Array])).toEqual(recs(i, i + 1));
    // Still in the first segment: the last one is not read yet, so what it holds now is what comes.
    const lastName = join(d, names.at(-1)!);
    const lastBytes = readFileSync(lastName);
    writeFileSync(lastName, lastBytes.subarray(0, 3));
    expect(() => [...it]).toThrow(/changed after recovery validated it/);
    // Same length, another segment's records: the lsn sequence gives it away.
    const firstBytes = readFileSync(join(d, names[0]!));
    writeFileSync(lastName, Buffer.concat([firstBytes, lastBytes]).subarray(0, lastBytes.length));
    expect(() => [...recovered.records()]).toThrow(/changed after recovery validated it/);
    // Gone: an I/O failure of the log, not a raw error.
    rmSync(lastName);
    let gone: unknown;
    try {
      [...recovered.records()];
    } catch (err) {
      gone = err;
    }
    expect(gone).toBeInstanceOf(WalError);
    expect((gone as WalError).code).toBe("WAL_IO_FAILED");
    writeFileSync(lastName, lastBytes);
    expect(hex([...recovered.records()])).toEqual(recs(0, 60));
    await wal.close();
  });

  test("appends without commit are not recovered (second instance opened as after a crash)", async () => {
    const d = fresh();
    const { wal } = await Wal.open({ dir: d });
    await fill(wal, 0, 3);
    wal.append(rec(3)); // the process "dies" here: never committed, never closed
    wal.append(rec(4));
    const second = await Wal.open({ dir: d });
    expect(hex([...second.recovered.records()])).toEqual(recs(0, 3));
    expect(second.wal.lsn).toBe(3);
    await second.wal.close();
  });

  test("a SIGKILLed writer loses nothing it was told is durable, and its log recovers cleanly", async () => {
    const d = fresh();
    const script = join(d, "writer.ts");
    const log = join(d, "log");
    writeFileSync(script, `
      import { Wal } from ${JSON.stringify(join(import.meta.dir, "wal.ts"))};
      const rec = ${rec.toString()};
      const { wal } = await Wal.open({ dir: ${JSON.stringify(log)}, segmentBytes: 4096 });
      for (let i = 0; ; i++) {
        wal.append(rec(i, 1 + (i % 200)));
        if (i % 7 === 6) { await wal.commit(); process.stdout.write("acked " + (i + 1) + "\\n"); }
      }
    `);
    const child = Bun.spawn([process.execPath, script], { stdout: "pipe", stderr: "inherit" });
    const reader = child.stdout.getReader();
    let out = "";
    const acked = (): number => Math.max(0, ...[...out.matchAll(/acked (\d+)\n/g)].map((m) => Number(m[1])));
    while (acked() < 2000) {
      const { value, done } = await reader.read();
      if (done) throw new Error(`writer exited early: ${out.slice(-200)}`);
      out += new TextDecoder().decode(value);
    }
    child.kill("SIGKILL");
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      out += new TextDecoder().decode(value);
    }
    expect(await child.exited).not.toBe(0);
    const { wal, recovered } = await Wal.open({ dir: log });
    expect([...recovered.records()].length).toBeGreaterThanOrEqual(acked());
    expect(hex([...recovered.records()])).toEqual(hex([...recovered.records()].map((_, i) => rec(i, 1 + (i % 200)))));
    expect(wal.lsn).toBe([...recovered.records()].length);
    await wal.close();
  }, 30_000);
});

describe("wal: directory entries (a start or rollover killed before its directory fsync)", () => {
  /** Open a Wal on `dir`, returning it and the paths it fsynced (directories and files). */
  async function openRecording(dir: string): Promise<{ wal: Wal; synced: string[] }> {
    const synced: string[] = [];
    const fsync = (fd: number): void => {
      synced.push(readlinkSync(`/proc/self/fd/${fd}`));
      fsyncSync(fd);
    };
    const { wal } = await Wal.open({ dir, fsync });
    return { wal, synced };
  }

  test("a log folder that exists already (made by a start killed before its fsync) gets its entry, and its parents', fsynced", async () => {
    const d = realpathSync(fresh());
    mkdirSync(join(d, "state", "agg-q1"), { recursive: true });
    const { wal, synced } = await openRecording(join(d, "state", "agg-q1"));
    await wal.close();
    expect(synced).toContain(join(d, "state"));
    expect(synced).toContain(d);
  });

  test("through a symlinked level, the entries fsynced are those of the real path", async () => {
    const d = realpathSync(fresh());
    mkdirSync(join(d, "real", "x"), { recursive: true });
    mkdirSync(join(d, "other"));
    symlinkSync(join(d, "real", "x"), join(d, "other", "link"));
    const { wal, synced } = await openRecording(join(d, "other", "link", "log"));
    await wal.close();
    // x's entry is in real/, which the path as written never names.
    expect(synced).toContain(join(d, "real", "x"));
    expect(synced).toContain(join(d, "real"));
  });

  test("a snapshot's file is fsynced before its rename, and the folder after the rename and before the covered segments go; a new segment's entry before records go into it", async () => {
    const d = realpathSync(fresh());
    /** At each fsync: what was synced, and the folder's files with their sizes at that moment. */
    const seen: { path: string; files: Record<string, number> }[] = [];
    const fsync = (fd: number): void => {
      const files = Object.fromEntries(readdirSync(d).map((n) => [n, statSync(join(d, n)).size]));
      seen.push({ path: readlinkSync(`/proc/self/fd/${fd}`), files });
      fsyncSync(fd);
    };
    const { wal } = await Wal.open({ dir: d, fsync, segmentBytes: 64 });
    await fill(wal, 0, 10);
    const segmentsBefore = segments(d);
    expect(segmentsBefore.length).toBeGreaterThan(1);
    // Every segment's entry was fsynced while the segment was still empty.
    for (const name of segmentsBefore) expect(seen.some((e) => e.path === d && e.files[name] === 0)).toBe(true);
    seen.length = 0;
    await wal.snapshot(Uint8Array.of(10));
    const name = snapshotFileName(10);
    const tmpSync = seen.findIndex((e) => e.path === join(d, `${name}.tmp`));
    expect(tmpSync).toBeGreaterThanOrEqual(0);
    expect(seen[tmpSync]!.files[name]).toBeUndefined();
    // The rename made durable while every segment it covers is still there: a power loss can
    // keep the deletes only after the snapshot's entry is on disk.
    const renameDurable = seen.findIndex((e) => e.path === d && name in e.files);
    expect(renameDurable).toBeGreaterThan(tmpSync);
    for (const seg of segmentsBefore) expect(seg in seen[renameDurable]!.files).toBe(true);
    // And the deletes are made durable too.
    expect(seen.at(-1)).toMatchObject({ path: d });
    expect(Object.keys(seen.at(-1)!.files)).toEqual([name]);
    await wal.close();
  });

  test("recovery fsyncs the snapshot it uses before deleting what it covers, and the last segment once its torn tail is cut", async () => {
    const d = realpathSync(fresh());
    const first = (await Wal.open({ dir: d, segmentBytes: 64 })).wal;
    await fill(first, 0, 5);
    const covered = segments(d)[0]!;
    const coveredBytes = readFileSync(join(d, covered));
    await first.snapshot(Uint8Array.of(5));
    await fill(first, 5, 8, 1);
    await first.close();
    // A compaction killed before its deletes left a covered segment; a write killed midway a torn tail.
    writeFileSync(join(d, covered), coveredBytes);
    const last = segments(d).at(-1)!;
    const validBytes = statSync(join(d, last)).size;
    appendFileSync(join(d, last), Uint8Array.of(1, 2, 3));
    const seen: { path: string; files: Record<string, number> }[] = [];
    const fsync = (fd: number): void => {
      seen.push({ path: readlinkSync(`/proc/self/fd/${fd}`), files: Object.fromEntries(readdirSync(d).map((n) => [n, statSync(join(d, n)).size])) });
      fsyncSync(fd);
    };
    const { wal, recovered } = await Wal.open({ dir: d, fsync });
    expect(recovered.truncatedBytes).toBe(3);
    const snapshotSync = seen.findIndex((e) => e.path === join(d, snapshotFileName(5)));
    expect(snapshotSync).toBeGreaterThanOrEqual(0);
    expect(covered in seen[snapshotSync]!.files).toBe(true);
    expect(seen.some((e) => e.path === join(d, last) && e.files[last] === validBytes)).toBe(true);
    await wal.close();
  });

  test("the log folder is fsynced at every open, not only when recovery deleted something: a segment a killed rollover made is made durable", async () => {
    const d = realpathSync(fresh());
    const first = await Wal.open({ dir: d, segmentBytes: 64 });
    await fill(first.wal, 0, 20);
    await first.wal.close();
    // An empty last segment, as a rollover killed between creating it and its directory fsync leaves.
    writeFileSync(join(d, segmentFileName(21)), new Uint8Array(0));
    const { wal, synced } = await openRecording(d);
    await wal.close();
    expect(synced).toContain(d);
  });
});

describe("wal: torn tails and corruption", () => {
  /** A closed multi-segment log of 12 records; returns the last segment and where its last record starts. */
  async function template(): Promise<{ d: string; last: string; lastStart: number; size: number }> {
    const d = fresh();
    await logOf(d, 12, { segmentBytes: 100 });
    const last = segments(d).at(-1)!;
    const size = statSync(join(d, last)).size;
    expect(segments(d).length).toBeGreaterThan(1);
    return { d, last, lastStart: size - recordBytes(11), size };
  }

  const copy = (from: string): string => {
    const to = fresh();
    cpSync(from, to, { recursive: true });
    return to;
  };

  test("the last record cut at EVERY byte offset: the records before it survive, truncatedBytes is exact, the log goes on", async () => {
    const t = await template();
    for (let cut = t.lastStart; cut < t.size; cut++) {
      const d = copy(t.d);
      truncateSync(join(d, t.last), cut);
      const { wal, recovered } = await Wal.open({ dir: d });
      expect(hex([...recovered.records()])).toEqual(recs(0, 11));
      expect(recovered.truncatedBytes).toBe(cut - t.lastStart);
      expect(statSync(join(d, t.last)).size).toBe(t.lastStart);
      expect(wal.lsn).toBe(11);
      wal.append(rec(99));
      await wal.commit();
      await wal.close();
      const again = await Wal.open({ dir: d });
      expect(hex([...again.recovered.records()])).toEqual([...recs(0, 11), ...hex([rec(99)])]);
      expect(again.recovered.truncatedBytes).toBe(0);
      expect(again.wal.lsn).toBe(12);
      await again.wal.close();
      rmSync(d, { recursive: true, force: true });
    }
  });

  test("ANY flipped byte of the last record (length, crc, lsn or payload) truncates just that record", async () => {
    const t = await template();
    for (let at = t.lastStart; at < t.size; at++) {
      const d = copy(t.d);
      flip(join(d, t.last), at);
      const { wal, recovered } = await Wal.open({ dir: d });
      expect(hex([...recovered.records()])).toEqual(recs(0, 11));
      expect(recovered.truncatedBytes).toBe(t.size - t.lastStart);
      await wal.close();
      rmSync(d, { recursive: true, force: true });
    }
  });

  test("a flipped byte in an EARLIER segment is WAL_CORRUPT naming file and offset, and nothing is changed", async () => {
    const t = await template();
    const first = segments(t.d)[0]!;
    const second = recordBytes(0); // offset of the segment's second record
    for (const at of [second, second + 3, second + 5, second + 9, second + RECORD_HEADER_BYTES]) {
      const d = copy(t.d);
      flip(join(d, first), at);
      const before = snapshotOf(d);
      const err = await walError(Wal.open({ dir: d }));
      expect(err.code).toBe("WAL_CORRUPT");
      expect(err.message).toContain(join(d, first));
      expect(err.message).toContain(`offset ${second}`);
      expect(snapshotOf(d)).toEqual(before);
      rmSync(d, { recursive: true, force: true });
    }
  });

  test("in the last segment, a bad record followed by valid ones is WAL_CORRUPT, not a torn tail", async () => {
    const d = fresh();
    await logOf(d, 8);
    const seg = join(d, segments(d)[0]!);
    let third = 0;
    for (let i = 0; i < 2; i++) third += recordBytes(i);
    flip(join(seg), third + RECORD_HEADER_BYTES - 1);
    const err = await walError(Wal.open({ dir: d }));
    expect(err.code).toBe("WAL_CORRUPT");
    expect(err.message).toContain(`${seg} at offset ${third}`);
    expect(err.message).toContain("valid record follows");
  });

  test("in the last segment, a bad record followed only by zeros or garbage is a torn tail", async () => {
    for (const tail of [new Uint8Array(3000), Uint8Array.from({ length: 3000 }, (_, k) => (k * 2654435761) >>> 24)]) {
      const d = fresh();
      await logOf(d, 8);
      const seg = join(d, segments(d)[0]!);
      const good = readFileSync(seg);
      writeFileSync(seg, Buffer.concat([good, tail]));
      const { wal, recovered } = await Wal.open({ dir: d });
      expect(hex([...recovered.records()])).toEqual(recs(0, 8));
      expect(recovered.truncatedBytes).toBe(tail.length);
      expect(statSync(seg).size).toBe(good.length);
      await wal.close();
    }
  });

  test("a missing segment (lsn gap) or a segment not starting at its name's lsn is WAL_CORRUPT", async () => {
    const t = await template();
    const names = segments(t.d);
    const gap = copy(t.d);
    rmSync(join(gap, names[1]!));
    const err = await walError(Wal.open({ dir: gap }));
    expect(err.code).toBe("WAL_CORRUPT");
    expect(err.message).toContain("missing");

    const renamed = copy(t.d);
    const lastName = names.at(-1)!;
    const firstLsn = Number(lastName.slice(4, 20));
    cpSync(join(renamed, lastName), join(renamed, segmentFileName(firstLsn - 1)));
    rmSync(join(renamed, lastName));
    expect((await walError(Wal.open({ dir: renamed }))).code).toBe("WAL_CORRUPT");
  });

  test("segmentBytes must be a positive integer", async () => {
    const d = fresh();
    await expect(Wal.open({ dir: d, segmentBytes: 0 })).rejects.toBeInstanceOf(ConfigError);
  });
});

describe("wal: beforeWrite", () => {
  test("runs before each group of records and each snapshot is written, never with nothing to write", async () => {
    const d = fresh();
    const seen: string[] = [];
    const bytesOnDisk = (): number => segments(d).reduce((n, f) => n + readFileSync(join(d, f)).length, 0);
    const { wal } = await Wal.open({ dir: d, beforeWrite: () => void seen.push(`hook at ${bytesOnDisk()} bytes, ${snapshots(d).length} snapshots`) });
    await wal.commit();
    expect(seen).toEqual([]);
    wal.append(rec(1));
    wal.append(rec(2));
    await wal.commit();
    // Called once for the group, before either record reached the file.
    expect(seen).toEqual(["hook at 0 bytes, 0 snapshots"]);
    wal.append(rec(3));
    await wal.snapshot(Uint8Array.of(9));
    const before = recordBytes(1) + recordBytes(2);
    expect(seen).toEqual(["hook at 0 bytes, 0 snapshots", `hook at ${before} bytes, 0 snapshots`, `hook at ${before + recordBytes(3)} bytes, 0 snapshots`]);
    await wal.close();
  });

  test("a throwing hook is fatal and nothing is written", async () => {
    const d = fresh();
    const { wal } = await Wal.open({ dir: d, beforeWrite: () => { throw new Error("spool fsync failed"); } });
    wal.append(rec(1));
    const err = await walError(wal.commit());
    expect(err.code).toBe("WAL_IO_FAILED");
    expect(segments(d).map((f) => readFileSync(join(d, f)).length).reduce((a, b) => a + b, 0)).toBe(0);
    expect((await walError(() => wal.append(rec(2)))).code).toBe("WAL_IO_FAILED");
  });
});

describe("wal: snapshots", () => {
  test("snapshot then more records: recovery = snapshot + later records; covered segments and older snapshots deleted", async () => {
    const d = fresh();
    const { wal } = await Wal.open({ dir: d, segmentBytes: 100 });
    await fill(wal, 0, 20);
    wal.append(rec(20)); // buffered: the snapshot commits it first
    await wal.snapshot(Uint8Array.of(1, 2, 3));
    expect(wal.lsn).toBe(21);
    expect(segments(d)).toEqual([]);
    expect(snapshots(d)).toEqual([snapshotFileName(21)]);
    await fill(wal, 21, 30);
    expect(segments(d)[0]).toBe(segmentFileName(22)); // the first segment after the snapshot
    await wal.close();
    const a = await Wal.open({ dir: d, segmentBytes: 100 });
    expect([...a.recovered.snapshot!]).toEqual([1, 2, 3]);
    expect(hex([...a.recovered.records()])).toEqual(recs(21, 30));
    expect(a.wal.lsn).toBe(30);
    await a.wal.snapshot(Uint8Array.of(4));
    await fill(a.wal, 30, 32);
    await a.wal.close();
    expect(snapshots(d)).toEqual([snapshotFileName(30)]);
    const b = await Wal.open({ dir: d });
    expect([...b.recovered.snapshot!]).toEqual([4]);
    expect(hex([...b.recovered.records()])).toEqual(recs(30, 32));
    await b.wal.close();
  });

  test("a commit pending when snapshot() or close() runs is served by it", async () => {
    const d = fresh();
    const { wal } = await Wal.open({ dir: d });
    wal.append(rec(0));
    const pending = wal.commit();
    await wal.snapshot(Uint8Array.of(5));
    await pending;
    wal.append(rec(1));
    const pending2 = wal.commit();
    await wal.close();
    await pending2;
    const { recovered } = await Wal.open({ dir: d });
    expect([...recovered.snapshot!]).toEqual([5]);
    expect(hex([...recovered.records()])).toEqual(recs(1, 2));
  });

  /** The bytes of a valid snapshot file of `state` at `lsn`, made by a Wal in a scratch dir. */
  async function snapshotBytes(lsn: number, state: Uint8Array): Promise<Buffer> {
    const d = fresh();
    const { wal } = await Wal.open({ dir: d });
    for (let i = 0; i < lsn; i++) wal.append(rec(i));
    await wal.snapshot(state);
    await wal.close();
    return readFileSync(join(d, snapshotFileName(lsn)));
  }

  /**
   * A closed log in `d` of records 0..end, with a snapshot of `state` taken after the first
   * `snapAt` (committed every `group` records, in segments of `segmentBytes`); returns the
   * segments the snapshot made redundant, as they were before it deleted them.
   */
  async function snapshotThenFill(d: string, snapAt: number, end: number, state: Uint8Array, opts: { segmentBytes?: number; group?: number } = {}): Promise<(readonly [string, Buffer])[]> {
    const { wal } = await Wal.open({ dir: d, ...(opts.segmentBytes ? { segmentBytes: opts.segmentBytes } : {}) });
    await fill(wal, 0, snapAt, opts.group);
    const covered = segments(d).map((n) => [n, readFileSync(join(d, n))] as const);
    await wal.snapshot(state);
    await fill(wal, snapAt, end, opts.group);
    await wal.close();
    return covered;
  }

  test("partial / damaged snapshots and a leftover .tmp are ignored and deleted: the previous snapshot wins", async () => {
    const good = await snapshotBytes(6, Uint8Array.from({ length: 100 }, (_, k) => k));
    const damaged = [good.subarray(0, 3), good.subarray(0, 20), good.subarray(0, good.length - 1), Buffer.concat([good, Buffer.of(0)])];
    // A flipped bit in the state, in the magic (which the CRC does not cover), and in the header's lsn.
    for (const at of [50, 0, 11]) {
      const flipped = Buffer.from(good);
      flipped[at]! ^= 1;
      damaged.push(flipped);
    }
    for (const bad of damaged) {
      const d = fresh();
      await snapshotThenFill(d, 3, 6, Uint8Array.of(7));
      writeFileSync(join(d, snapshotFileName(6)), bad);
      writeFileSync(join(d, `${snapshotFileName(6)}.tmp`), good);
      const { wal: w, recovered } = await Wal.open({ dir: d });
      expect([...recovered.snapshot!]).toEqual([7]);
      expect(hex([...recovered.records()])).toEqual(recs(3, 6));
      expect(readdirSync(d).sort()).toEqual([snapshotFileName(3), segmentFileName(4)]);
      await w.close();
    }
  });

  test("a damaged snapshot whose records are nowhere else is WAL_CORRUPT, kept on disk, not an empty start", async () => {
    const d = fresh();
    await snapshotThenFill(d, 5, 5, Uint8Array.of(9));
    // The snapshot covered every record, so its segments are gone: it alone holds records 1..5.
    expect(segments(d)).toEqual([]);
    const damaged = readFileSync(join(d, snapshotFileName(5)));
    damaged[damaged.length - 1]! ^= 1;
    writeFileSync(join(d, snapshotFileName(5)), damaged);
    const err = await walError(Wal.open({ dir: d }));
    expect(err.code).toBe("WAL_CORRUPT");
    expect(err.message).toContain(`${snapshotFileName(5)} in ${d} failed its check (CRC mismatch) and records 1..5 it held are nowhere else`);
    expect(snapshots(d)).toEqual([snapshotFileName(5)]);
  });

  test("a damaged snapshot with later segments names itself in the gap it leaves", async () => {
    const d = fresh();
    await snapshotThenFill(d, 5, 8, Uint8Array.of(9));
    writeFileSync(join(d, snapshotFileName(5)), readFileSync(join(d, snapshotFileName(5))).subarray(0, 10));
    const err = await walError(Wal.open({ dir: d }));
    expect(err.code).toBe("WAL_CORRUPT");
    expect(err.message).toContain(`records 1..5 are missing; ${snapshotFileName(5)} failed its check (only 10 bytes)`);
  });

  test("with no valid snapshot left, recovery replays the whole log", async () => {
    const good = await snapshotBytes(6, Uint8Array.of(1, 2));
    const d = fresh();
    await logOf(d, 6);
    writeFileSync(join(d, snapshotFileName(6)), good.subarray(0, good.length - 1));
    writeFileSync(join(d, "snapshot-0000000000000006.bin.tmp"), good);
    const { wal, recovered } = await Wal.open({ dir: d });
    expect(recovered.snapshot).toBeNull();
    expect(hex([...recovered.records()])).toEqual(recs(0, 6));
    expect(snapshots(d)).toEqual([]);
    await wal.close();
  });

  test("a snapshot whose header lsn differs from its name is invalid", async () => {
    const good = await snapshotBytes(6, Uint8Array.of(1));
    const d = fresh();
    await logOf(d, 8);
    writeFileSync(join(d, snapshotFileName(7)), good);
    const { wal, recovered } = await Wal.open({ dir: d });
    expect(recovered.snapshot).toBeNull();
    expect(hex([...recovered.records()])).toEqual(recs(0, 8));
    await wal.close();
  });

  /**
   * A closed log of 20 records compacted at 12 (a snapshot, then records 13..20 in new segments),
   * and the segments the snapshot made redundant, as they were before it deleted them.
   */
  async function compactedLog(): Promise<{ d: string; old: (readonly [string, Buffer])[] }> {
    const d = fresh();
    const old = await snapshotThenFill(d, 12, 20, Uint8Array.of(12), { segmentBytes: 100 });
    expect(old.length).toBeGreaterThan(2);
    return { d, old };
  }

  test("crash between snapshot rename and dir fsync / segment deletion: covered records are not applied twice", async () => {
    const { d, old } = await compactedLog();

    // every covered segment "survived"
    const all = copy(d);
    for (const [n, b] of old) writeFileSync(join(all, n), b);
    const a = await Wal.open({ dir: all });
    expect([...a.recovered.snapshot!]).toEqual([12]);
    expect(hex([...a.recovered.records()])).toEqual(recs(12, 20));
    expect(segments(all)).toEqual(segments(d)); // the covered ones are gone now
    expect(segments(all)[0]).toBe(segmentFileName(13));
    await fill(a.wal, 20, 21);
    await a.wal.close();
    expect(hex([...(await Wal.open({ dir: all })).recovered.records()])).toEqual(recs(12, 21));

    // the deletion was interrupted half-way: only a later covered segment survived (a covered gap)
    const some = copy(d);
    const [n, b] = old.at(-1)!;
    writeFileSync(join(some, n), b);
    const s = await Wal.open({ dir: some });
    expect(hex([...s.recovered.records()])).toEqual(recs(12, 20));
    await s.wal.close();

    // crash right after the rename: old segments still there, nothing written since
    const bare = fresh();
    const kept = await snapshotThenFill(bare, 5, 5, Uint8Array.of(5));
    for (const [x, y] of kept) writeFileSync(join(bare, x), y);
    const r = await Wal.open({ dir: bare });
    expect([...r.recovered.snapshot!]).toEqual([5]);
    expect([...r.recovered.records()]).toEqual([]);
    expect(r.wal.lsn).toBe(5);
    await fill(r.wal, 5, 7);
    await r.wal.close();
    expect(hex([...(await Wal.open({ dir: bare })).recovered.records()])).toEqual(recs(5, 7));
  });

  test("a covered segment a compaction left behind is deleted unread: a damaged byte in it loses nothing", async () => {
    const { d, old } = await compactedLog();
    // Every covered segment survived the crash, and one of them (first, middle, last) is damaged.
    for (const victim of [0, 1, old.length - 1]) {
      const c = copy(d);
      for (const [n, b] of old) writeFileSync(join(c, n), b);
      flip(join(c, old[victim]![0]), RECORD_HEADER_BYTES + 1);
      const r = await Wal.open({ dir: c });
      expect([...r.recovered.snapshot!]).toEqual([12]);
      expect(hex([...r.recovered.records()])).toEqual(recs(12, 20));
      expect(segments(c)).toEqual(segments(d));
      await r.wal.close();
      rmSync(c, { recursive: true, force: true });
    }
  });

  test("one record per segment after a snapshot: the segment right after it is read, every later record replayed", async () => {
    // Segments of one record each: the boundary of "covered" falls between two segments.
    const d = fresh();
    await snapshotThenFill(d, 5, 9, Uint8Array.of(5), { segmentBytes: 1, group: 1 });
    const r = await Wal.open({ dir: d });
    expect(r.recovered.recordCount).toBe(4);
    expect(hex([...r.recovered.records()])).toEqual(recs(5, 9));
    await r.wal.close();
  });

  test("with the snapshot damaged and the segments it covered still there, recovery replays them all: none is skipped as covered", async () => {
    const d = fresh();
    const old = await snapshotThenFill(d, 5, 9, Uint8Array.of(5), { segmentBytes: 1, group: 1 });
    // The deletion of the covered segments never happened, and the snapshot's last byte changed.
    for (const [n, b] of old) writeFileSync(join(d, n), b);
    const snap = readdirSync(d).find((n) => n.startsWith("snapshot-"))!;
    flip(join(d, snap), statSync(join(d, snap)).size - 1);
    const r = await Wal.open({ dir: d });
    expect(r.recovered.snapshot).toBeNull();
    expect(hex([...r.recovered.records()])).toEqual(recs(0, 9));
    await r.wal.close();
  });

  function copy(from: string): string {
    const to = fresh();
    cpSync(from, to, { recursive: true });
    return to;
  }
});

describe("wal: fatal failures", () => {
  test("a failed fsync is fatal and never retried: every later call throws WAL_FSYNC_FAILED", async () => {
    const d = fresh();
    let fail = false;
    let attempts = 0;
    const fsync = (fd: number): void => {
      attempts++;
      if (fail) throw new Error("EIO");
      fsyncSync(fd);
    };
    const { wal } = await Wal.open({ dir: d, fsync });
    await fill(wal, 0, 5);
    fail = true;
    wal.append(rec(5));
    const before = attempts;
    expect((await walError(wal.commit())).code).toBe("WAL_FSYNC_FAILED");
    expect(attempts).toBe(before + 1);
    fail = false;
    expect((await walError(() => wal.append(rec(6)))).code).toBe("WAL_FSYNC_FAILED");
    expect((await walError(wal.commit())).code).toBe("WAL_FSYNC_FAILED");
    expect((await walError(wal.snapshot(Uint8Array.of(1)))).code).toBe("WAL_FSYNC_FAILED");
    expect((await walError(wal.close())).code).toBe("WAL_FSYNC_FAILED");
    expect(attempts).toBe(before + 1); // no retry, ever
    expect(wal.lsn).toBe(5);
    const { recovered } = await Wal.open({ dir: d });
    expect(hex([...recovered.records()].slice(0, 5))).toEqual(recs(0, 5)); // what was durable stays durable
  });

  test("a failed fsync inside snapshot() is fatal too; recovery falls back to the log", async () => {
    const d = fresh();
    let fail = false;
    const { wal } = await Wal.open({
      dir: d,
      fsync: (fd) => {
        if (fail) throw new Error("EIO");
        fsyncSync(fd);
      },
    });
    await fill(wal, 0, 4);
    fail = true;
    expect((await walError(wal.snapshot(Uint8Array.of(1)))).code).toBe("WAL_FSYNC_FAILED");
    expect((await walError(() => wal.append(rec(4)))).code).toBe("WAL_FSYNC_FAILED");
    const { wal: w, recovered } = await Wal.open({ dir: d });
    expect(recovered.snapshot).toBeNull();
    expect(hex([...recovered.records()])).toEqual(recs(0, 4));
    expect(existsSync(join(d, `${snapshotFileName(4)}.tmp`))).toBe(false);
    await w.close();
  });

  test("a failed fsync during recovery rejects open with WAL_FSYNC_FAILED", async () => {
    const d = fresh();
    await logOf(d, 3);
    const err = await walError(Wal.open({ dir: d, fsync: () => { throw new Error("EIO"); } }));
    expect(err.code).toBe("WAL_FSYNC_FAILED");
  });

  test("after close() every call throws WAL_CLOSED", async () => {
    const d = fresh();
    const { wal } = await Wal.open({ dir: d });
    await wal.close();
    expect((await walError(() => wal.append(rec(0)))).code).toBe("WAL_CLOSED");
    expect((await walError(wal.commit())).code).toBe("WAL_CLOSED");
    expect((await walError(wal.snapshot(Uint8Array.of(1)))).code).toBe("WAL_CLOSED");
  });
});

describe("wal: recovery boundaries", () => {
  test("two valid snapshots left by a compaction cut short: the NEWER one is used, the older deleted", async () => {
    const d = fresh();
    const { wal } = await Wal.open({ dir: d });
    await fill(wal, 0, 3);
    await wal.snapshot(Uint8Array.of(3));
    const older = readFileSync(join(d, snapshotFileName(3)));
    await fill(wal, 3, 6);
    await wal.snapshot(Uint8Array.of(6));
    await wal.close();
    // The crash came after the covered segments were deleted, before the older snapshot was.
    writeFileSync(join(d, snapshotFileName(3)), older);
    const r = await Wal.open({ dir: d });
    expect([...r.recovered.snapshot!]).toEqual([6]);
    expect(r.recovered.recordCount).toBe(0);
    expect(r.wal.lsn).toBe(6);
    expect(snapshots(d)).toEqual([snapshotFileName(6)]);
    await r.wal.close();
  });

  test("segments overlapping by a single record are WAL_CORRUPT, never a record replayed twice", async () => {
    const d = fresh();
    await logOf(d, 3, { segmentBytes: 1 });
    expect(segments(d)).toEqual([segmentFileName(1), segmentFileName(2), segmentFileName(3)]);
    // wal-1 now holds records 1 and 2; wal-2 still holds record 2.
    writeFileSync(join(d, segmentFileName(1)), Buffer.concat([readFileSync(join(d, segmentFileName(1))), readFileSync(join(d, segmentFileName(2)))]));
    const err = await walError(Wal.open({ dir: d }));
    expect(err.code).toBe("WAL_CORRUPT");
    expect(err.message).toContain("overlap");
  });

  test("after a snapshot, a lost segment holding just the next record is WAL_CORRUPT, not skipped", async () => {
    const d = fresh();
    const { wal } = await Wal.open({ dir: d, segmentBytes: 1 });
    await fill(wal, 0, 5, 1);
    await wal.snapshot(Uint8Array.of(5));
    await fill(wal, 5, 8, 1);
    await wal.close();
    expect(segments(d)).toEqual([segmentFileName(6), segmentFileName(7), segmentFileName(8)]);
    rmSync(join(d, segmentFileName(6)));
    const err = await walError(Wal.open({ dir: d }));
    expect(err.code).toBe("WAL_CORRUPT");
    expect(err.message).toContain("starts at lsn 7: records");
  });

  test("a damaged snapshot one record past the log's end is WAL_CORRUPT: that record is nowhere else", async () => {
    const src = fresh();
    const w = (await Wal.open({ dir: src })).wal;
    await fill(w, 0, 4);
    await w.snapshot(Uint8Array.of(4));
    await w.close();
    const snap = readFileSync(join(src, snapshotFileName(4)));
    snap[snap.length - 1]! ^= 1;
    const d = fresh();
    await logOf(d, 3);
    writeFileSync(join(d, snapshotFileName(4)), snap);
    const err = await walError(Wal.open({ dir: d }));
    expect(err.code).toBe("WAL_CORRUPT");
    expect(err.message).toContain("records 4..4 it held are nowhere else");
  });
});

/**
 * File fsyncs held open by the test: each one waits until released, as a slow disk's would, while
 * the test appends, commits, snapshots and closes around it (a directory's goes through at once).
 */
function heldFsyncs(): { fsync: (fd: number) => void | Promise<void>; hold: () => void; started: () => Promise<void>; release: (err?: Error) => void; calls: () => number } {
  let holding = false;
  let calls = 0;
  const held: { done: () => void; fail: (err: Error) => void }[] = [];
  const onStart: (() => void)[] = [];
  return {
    fsync: (fd) => {
      if (!holding || fstatSync(fd).isDirectory()) return fsyncSync(fd);
      calls++;
      return new Promise<void>((done, fail) => {
        held.push({ done: () => { fsyncSync(fd); done(); }, fail });
        for (const f of onStart.splice(0)) f();
      });
    },
    hold: () => void (holding = true),
    /** Resolves once an fsync is waiting to be released. */
    started: () => (held.length > 0 ? Promise.resolve() : new Promise<void>((r) => onStart.push(r))),
    release: (err) => {
      const next = held.shift();
      if (!next) throw new Error("no fsync is held");
      if (err) next.fail(err);
      else next.done();
    },
    calls: () => calls,
  };
}

/** A log in a fresh folder holding rec(0) .. rec(records - 1), durable, whose file fsyncs are held from now on. */
async function heldLog(records: number): Promise<{ d: string; disk: ReturnType<typeof heldFsyncs>; wal: Wal }> {
  const d = fresh();
  const disk = heldFsyncs();
  const { wal } = await Wal.open({ dir: d, fsync: disk.fsync });
  if (records > 0) await fill(wal, 0, records);
  disk.hold();
  return { d, disk, wal };
}

/** Whether `p` has settled by the time the event loop has run the callbacks due now. */
async function settled(p: Promise<unknown>): Promise<boolean> {
  let done = false;
  p.then(() => (done = true), () => (done = true));
  await new Promise((r) => setImmediate(r));
  await new Promise((r) => setImmediate(r));
  return done;
}

describe("wal: writes wait for their fsync without holding the event loop", () => {
  test("while an fsync is under way, records appended and committed meanwhile wait for the NEXT one, all of them in one", async () => {
    const { d, disk, wal } = await heldLog(0);
    wal.append(rec(0));
    const first = wal.commit();
    await disk.started();
    // The first write is on disk, waiting for its fsync; the loop runs on.
    for (let i = 1; i < 4; i++) wal.append(rec(i));
    const second = [wal.commit(), wal.commit()];
    expect(await settled(first)).toBe(false);
    expect(wal.lsn).toBe(0);
    expect(wal.pendingRecords).toBe(4);
    disk.release();
    await first;
    expect(wal.lsn).toBe(1);
    // Not served by the fsync that ended: their records were not in its write.
    expect(await settled(Promise.race(second))).toBe(false);
    await disk.started();
    disk.release();
    await Promise.all(second);
    expect(wal.lsn).toBe(4);
    expect(disk.calls()).toBe(2);
    await wal.close();
    const { recovered } = await Wal.open({ dir: d });
    expect(hex([...recovered.records()])).toEqual(recs(0, 4));
  });

  test("a snapshot asked for while an fsync is under way holds what was appended before it; records appended after it stay in the log", async () => {
    const { d, disk, wal } = await heldLog(3);
    wal.append(rec(3));
    const commit = wal.commit();
    await disk.started();
    wal.append(rec(4));
    const snapshot = wal.snapshot(Uint8Array.of(7)); // the fold of records 0..4
    wal.append(rec(5));
    wal.append(rec(6));
    const later = wal.commit();
    // Release every fsync as it comes: the write under way, the snapshot's, then the later records'.
    let releasing = true;
    void (async () => {
      while (releasing) {
        await disk.started();
        if (releasing) disk.release();
      }
    })();
    await Promise.all([commit, snapshot, later]);
    releasing = false;
    expect(wal.lsn).toBe(7);
    await wal.close();
    const { wal: reopened, recovered } = await Wal.open({ dir: d });
    expect(snapshots(d)).toEqual([snapshotFileName(5)]);
    expect([...recovered.snapshot!]).toEqual([7]);
    expect(hex([...recovered.records()])).toEqual(recs(5, 7));
    await reopened.close();
  });

  test("a snapshot asked for while a flush waits behind an fsync: every write stays in lsn order, no commit resolves early, nothing after the snapshot is lost", async () => {
    const { d, disk, wal } = await heldLog(1); // lsn 1
    wal.append(rec(1)); // lsn 2: written, its fsync held
    const c2 = wal.commit();
    await disk.started();
    wal.append(rec(2)); // lsn 3: its flush queued behind the held fsync
    const c3 = wal.commit();
    await new Promise((r) => setImmediate(r));
    const snapshot = wal.snapshot(Uint8Array.of(9)); // the fold of lsn 1..3
    wal.append(rec(3)); // lsn 4: after the snapshot
    const c4 = wal.commit();
    const copies: string[] = [];
    for (let i = 0; ; i++) {
      if (i > 0) await disk.started();
      // Whatever a kill -9 would leave here opens again, and every commit resolved so far is in it.
      const copy = `${d}-at-${i}`;
      cpSync(d, copy, { recursive: true });
      dirs.push(copy);
      const resolved = [await settled(c2), await settled(c3), await settled(c4)];
      const { wal: w, recovered } = await Wal.open({ dir: copy });
      const snap = recovered.snapshot === null ? 0 : 3;
      const durable = snap + recovered.recordCount;
      await w.close();
      copies.push(`${resolved.map(Number).join("")}:${durable}`);
      const lastResolved = resolved.lastIndexOf(true);
      expect(durable).toBeGreaterThanOrEqual(lastResolved === -1 ? 1 : lastResolved + 2);
      disk.release();
      if (await settled(Promise.all([c2, c3, snapshot, c4]))) break;
    }
    await Promise.all([c2, c3, snapshot, c4]);
    await wal.close();
    const { recovered } = await Wal.open({ dir: d });
    expect([...recovered.snapshot!]).toEqual([9]);
    expect(hex([...recovered.records()])).toEqual(recs(3, 4));
    expect(copies.length).toBeGreaterThanOrEqual(3);
  });

  test("close() waits for the write under way and writes what was appended after it", async () => {
    const { d, disk, wal } = await heldLog(0);
    wal.append(rec(0));
    const commit = wal.commit();
    await disk.started();
    wal.append(rec(1));
    const closed = wal.close();
    expect((await walError(() => wal.append(rec(2)))).code).toBe("WAL_CLOSED");
    expect(await settled(closed)).toBe(false);
    disk.release();
    await commit;
    await disk.started();
    expect(await settled(closed)).toBe(false);
    disk.release();
    await closed;
    await wal.close(); // a second close: the first one's outcome
    const { recovered } = await Wal.open({ dir: d });
    expect(hex([...recovered.records()])).toEqual(recs(0, 2));
  });

  test("an fsync that fails while commits wait behind it fails them all, and every later call", async () => {
    const { disk, wal } = await heldLog(2);
    wal.append(rec(2));
    const first = wal.commit();
    await disk.started();
    wal.append(rec(3));
    const second = wal.commit();
    disk.release(new Error("EIO"));
    expect((await walError(first)).code).toBe("WAL_FSYNC_FAILED");
    expect((await walError(second)).code).toBe("WAL_FSYNC_FAILED");
    expect(disk.calls()).toBe(1); // the records behind it were never written
    expect((await walError(() => wal.append(rec(4)))).code).toBe("WAL_FSYNC_FAILED");
    expect((await walError(wal.close())).code).toBe("WAL_FSYNC_FAILED");
    expect(wal.lsn).toBe(2);
  });

  test("recovery waits for its fsyncs too, and opens only once each of them is done", async () => {
    const d = fresh();
    await logOf(d, 2);
    const disk = heldFsyncs();
    disk.hold();
    const opening = Wal.open({ dir: d, fsync: disk.fsync });
    await disk.started(); // the last segment's fsync (what open returns must be durable)
    expect(await settled(opening)).toBe(false);
    disk.release();
    const { wal, recovered } = await opening;
    expect(disk.calls()).toBe(1);
    expect(hex([...recovered.records()])).toEqual(recs(0, 2));
    await wal.close();
  });
});
