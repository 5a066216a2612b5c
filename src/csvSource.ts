/**
 * Streams one entity's CSV files as batches of projected text columns, never holding a whole
 * file. Shared by the client and `coffee reference`, so both reject exactly the same rows.
 */
import { createReadStream, readdirSync, statSync } from "node:fs";
import { join } from "node:path";
import Papa from "papaparse";
import { DatasetError } from "./errors.ts";
import { ENTITY_COLUMNS, type Entity } from "./schema.ts";

/** A batch of rows from one file: text columns in ENTITY_COLUMNS order plus each row's line number. */
export interface TextBatch {
  file: string;
  columns: string[][];
  lines: number[];
}

/** Rows dropped while reading because their field count differs from the header's. */
export interface ShapeRejects {
  file: string;
  lines: number[];
}

/** The CSV files of an entity folder, sorted by name; a missing folder is a DatasetError. */
export function entityFiles(dataDir: string, entity: Entity): string[] {
  const dir = join(dataDir, entity);
  let names: string[];
  try {
    if (!statSync(dir).isDirectory()) throw new DatasetError(`${dir} is not a directory`);
    names = readdirSync(dir);
  } catch {
    throw new DatasetError(`dataset folder ${dir} is missing (expected ${entity}/*.csv under ${dataDir})`);
  }
  return names.filter((n) => n.toLowerCase().endsWith(".csv")).sort().map((n) => join(dir, n));
}

/** Map each needed column to its index in a header row; a missing column is a DatasetError. */
export function projectHeader(file: string, entity: Entity, header: readonly string[]): number[] {
  const trimmed = header.map((h) => h.trim().replace(/^\uFEFF/, ""));
  return ENTITY_COLUMNS[entity].map((name) => {
    const idx = trimmed.indexOf(name);
    if (idx < 0) throw new DatasetError(`${file}: header has no column "${name}" (found: ${trimmed.join(",")})`);
    return idx;
  });
}

/**
 * Read one file and yield batches of at most `batchRows` rows. Line numbers count CSV records,
 * the header being line 1. `onReject` receives rows with the wrong number of fields.
 */
export async function* readEntityFile(
  file: string,
  entity: Entity,
  batchRows: number,
  onReject: (line: number) => void,
): AsyncGenerator<TextBatch> {
  const input = createReadStream(file);
  const parser = Papa.parse(Papa.NODE_STREAM_INPUT, { skipEmptyLines: true }) as unknown as NodeJS.ReadWriteStream;
  const ready: TextBatch[] = [];
  let failure: unknown = null;
  let ended = false;
  let wake: (() => void) | null = null;
  const notify = (): void => { const w = wake; wake = null; w?.(); };
  let projection: number[] | null = null;
  let width = 0;
  const ncols = ENTITY_COLUMNS[entity].length;
  let batch = emptyBatch(file, ncols);
  let line = 0;
  parser.on("data", (row: string[]) => {
    if (failure) return;
    line++;
    if (projection === null) {
      try { projection = projectHeader(file, entity, row); } catch (err) { failure = err; input.destroy(); notify(); return; }
      width = row.length;
      return;
    }
    if (row.length !== width) { onReject(line); return; }
    // Bytes that are not UTF-8 decode to U+FFFD: such a row is malformed, not data.
    for (let c = 0; c < ncols; c++) if (row[projection[c]!]!.includes("\uFFFD")) { onReject(line); return; }
    for (let c = 0; c < ncols; c++) batch.columns[c]!.push(row[projection[c]!]!);
    batch.lines.push(line);
    if (batch.lines.length >= batchRows) {
      ready.push(batch);
      batch = emptyBatch(file, ncols);
      if (ready.length >= 2) parser.pause();
      notify();
    }
  });
  parser.on("end", () => { if (batch.lines.length > 0) ready.push(batch); ended = true; notify(); });
  const fail = (err: unknown): void => { failure ??= err; notify(); };
  input.on("error", fail);
  parser.on("error", fail);
  input.pipe(parser);
  try {
    for (;;) {
      const next = ready.shift();
      if (next) {
        if (ready.length < 2) parser.resume();
        yield next;
        continue;
      }
      if (failure) throw failure;
      if (ended) return;
      await new Promise<void>((resolve) => { wake = resolve; });
    }
  } finally {
    input.destroy();
  }
}

function emptyBatch(file: string, ncols: number): TextBatch {
  return { file, columns: Array.from({ length: ncols }, () => []), lines: [] };
}
