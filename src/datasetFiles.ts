/**
 * The CSV files of a dataset folder, entity by entity: what the client reads and `coffee
 * reference` computes from, found the same way for both.
 */
import { readdirSync, statSync } from "node:fs";
import { join } from "node:path";
import { DatasetError, errorMessage } from "./errors.ts";
import { ENTITIES, type Entity } from "./schema.ts";

/** The CSV files of an entity folder, sorted by name (hidden files left out); a missing folder, or a non-file named *.csv, is a DatasetError. */
export function entityFiles(dataDir: string, entity: Entity): string[] {
  const dir = join(dataDir, entity);
  let names: string[];
  try {
    if (!statSync(dataDir).isDirectory()) throw new DatasetError(`${dataDir} is a file, not a dataset folder (one holding transactions/, transaction_items/, users/, stores/, menu_items/)`);
  } catch (err) {
    if (err instanceof DatasetError) throw err;
    throw new DatasetError(`dataset folder ${dataDir} does not exist`);
  }
  try {
    if (!statSync(dir).isDirectory()) throw new DatasetError(`${dir} is not a directory (expected ${entity}/*.csv under ${dataDir})`);
    names = readdirSync(dir);
  } catch (err) {
    if (err instanceof DatasetError) throw err;
    throw new DatasetError(`dataset folder ${dir} is missing (expected ${entity}/*.csv under ${dataDir})${datasetsBelow(dataDir)}`);
  }
  // Hidden files are not data: macOS leaves `._name.csv` (AppleDouble) beside every file it copies.
  const files = names.filter((n) => n.toLowerCase().endsWith(".csv") && !n.startsWith(".")).sort().map((n) => join(dir, n));
  for (const f of files) {
    let isFile: boolean;
    try {
      isFile = statSync(f).isFile();
    } catch (err) {
      // A broken symlink, or a file gone since the listing.
      throw new DatasetError(`${f} cannot be read: ${errorMessage(err)}`);
    }
    if (!isFile) throw new DatasetError(`${f} is not a regular file (a folder named like a CSV file?)`);
  }
  return files;
}

/**
 * A hint for a --data that names the parent of datasets (demo/data holds client1/, client2/...):
 * its subfolders that hold an entity folder of their own, or "" when none does.
 */
function datasetsBelow(dataDir: string): string {
  const holdsEntity = (dir: string): boolean => ENTITIES.some((e) => statOrNull(join(dir, e))?.isDirectory());
  // A dataset short of one folder is not a parent of datasets (its backup/ may look like one).
  if (holdsEntity(dataDir)) return "";
  let names: string[];
  try {
    names = readdirSync(dataDir).sort();
  } catch {
    return "";
  }
  // stat, not the directory entry: a dataset may be a symlink to one.
  const datasets = names.filter((d) => statOrNull(join(dataDir, d))?.isDirectory() && holdsEntity(join(dataDir, d)));
  if (datasets.length === 0) return "";
  return `; ${datasets.slice(0, 3).map((d) => `${d}/`).join(", ")}${datasets.length > 3 ? ", ..." : ""} below it ${datasets.length === 1 ? "looks like a dataset: pass it" : "look like datasets: pass one of those"} as --data`;
}

/** statSync, or null when the path cannot be stat'ed. */
function statOrNull(path: string): ReturnType<typeof statSync> | null {
  try {
    return statSync(path);
  } catch {
    return null;
  }
}

/** What an entity folder holds besides its CSV files, for a folder with none (subfolders, compressed files). */
export function otherEntries(dataDir: string, entity: Entity): string[] {
  const dir = join(dataDir, entity);
  return readdirSync(dir, { withFileTypes: true }).map((d) => (d.isDirectory() ? `${d.name}/` : d.name)).sort();
}
