/**
 * Checks a dataset folder before anything is sent: every entity folder present, every file's
 * header has the needed columns. Problems are DatasetErrors, raised before connecting.
 */
import { closeSync, openSync, readSync } from "node:fs";
import { relative } from "node:path";
import Papa from "papaparse";
import { entityFiles, otherEntries } from "./datasetFiles.ts";
import { projectHeader } from "./rowBatcher.ts";
import { REDUCERS } from "./queries/index.ts";
import { QUERIES, queryFileName, type Entity } from "./schema.ts";

/** A file to send: its path and the label used in reports (relative to the dataset folder). */
export interface DatasetFile {
  path: string;
  label: string;
}

/**
 * Where the file's header starts, and up to 64 KiB of it: past a UTF-8 BOM and any empty lines,
 * as readEntityFile skips them (papaparse's `preview` would count an empty line as the header).
 */
function headerText(path: string): string {
  const fd = openSync(path, "r");
  try {
    const buf = Buffer.alloc(64 * 1024);
    const n = readSync(fd, buf, 0, buf.length, 0);
    return buf.subarray(0, n).toString("utf8").replace(/^\uFEFF/, "").replace(/^(?:\r?\n|\r)+/, "");
  } finally {
    closeSync(fd);
  }
}

/**
 * Files per entity, each with a usable header; throws DatasetError otherwise. Empty files hold
 * no rows: they are left out and named in `skipped`, not an error. An entity folder without a
 * CSV file is not an error either (its rows are none), but said in `notes`, with what it holds
 * instead: files in subfolders or compressed are not read, and nobody should learn that from
 * empty results.
 */
export function validateDataset(dataDir: string, entities: readonly Entity[], skipped: string[] = [], notes: string[] = []): Map<Entity, DatasetFile[]> {
  const out = new Map<Entity, DatasetFile[]>();
  for (const entity of entities) {
    const files: DatasetFile[] = [];
    const paths = entityFiles(dataDir, entity);
    if (paths.length === 0) notes.push(noCsvNote(dataDir, entity));
    for (const path of paths) {
      const f = { path, label: relative(dataDir, path) };
      const head = Papa.parse<string[]>(headerText(f.path), { preview: 1, delimiter: "," }).data[0];
      if (!head || head.length === 0 || (head.length === 1 && head[0]!.trim() === "")) {
        skipped.push(f.label);
        continue;
      }
      projectHeader(f.label, entity, head);
      files.push(f);
    }
    out.set(entity, files);
  }
  return out;
}

/**
 * What to say of an entity folder without a CSV file: it has no rows, which result files that
 * lack, and what it holds instead (files in subfolders or compressed are not read).
 */
export function noCsvNote(dataDir: string, entity: Entity): string {
  const other = otherEntries(dataDir, entity);
  const readers = QUERIES.filter((q) => REDUCERS[q].needs.includes(entity)).map(queryFileName);
  return `${entity}/ holds no .csv file, so it has no rows, and ${readers.join(" and ")} ${readers.length > 1 ? "lack what they read" : "lacks what it reads"} from it${other.length > 0 ? ` (not read: ${other.slice(0, 5).join(", ")}${other.length > 5 ? ", ..." : ""})` : ""}`;
}
