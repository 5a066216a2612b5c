import { afterAll, expect, test } from "bun:test";
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { noCsvNote, validateDataset } from "./datasetCheck.ts";

const dir = mkdtempSync(join(tmpdir(), "coffee-dscheck-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

test("a header after empty lines (and a BOM) is found, as the reader finds it; only a file without one is skipped", () => {
  mkdirSync(join(dir, "stores"), { recursive: true });
  writeFileSync(join(dir, "stores", "a-blank-first.csv"), "\n\r\nstore_id,store_name\n1,Centro\n");
  writeFileSync(join(dir, "stores", "b-bom.csv"), "\uFEFF\nstore_id,store_name\n2,Norte\n");
  writeFileSync(join(dir, "stores", "c-only-blank.csv"), "\n\n");
  writeFileSync(join(dir, "stores", "d-empty.csv"), "");
  const skipped: string[] = [];
  const files = validateDataset(dir, ["stores"], skipped);
  expect(files.get("stores")?.map((f) => f.label)).toEqual(["stores/a-blank-first.csv", "stores/b-bom.csv"]);
  expect(skipped).toEqual(["stores/c-only-blank.csv", "stores/d-empty.csv"]);
});

test("a header missing a needed column is a DatasetError naming the file", () => {
  mkdirSync(join(dir, "bad", "stores"), { recursive: true });
  writeFileSync(join(dir, "bad", "stores", "s.csv"), "\nstore_id,name\n1,x\n");
  expect(() => validateDataset(join(dir, "bad"), ["stores"])).toThrow('stores/s.csv: header has no column "store_name"');
});

test("a folder without a CSV file is a note naming what it holds; hidden files are not data; a folder named x.csv is an error", () => {
  const root = join(dir, "notes");
  mkdirSync(join(root, "stores", "2024"), { recursive: true });
  writeFileSync(join(root, "stores", "2024", "s.csv"), "store_id,store_name\n1,a\n");
  writeFileSync(join(root, "stores", "s.csv.gz"), "");
  writeFileSync(join(root, "stores", "._s.csv"), "\u0000\u0005\u0016\u0007binary");
  const notes: string[] = [];
  expect(validateDataset(root, ["stores"], [], notes).get("stores")).toEqual([]);
  expect(notes).toEqual(["stores/ holds no .csv file, so it has no rows, and query3.csv and query4.csv lack what they read from it (not read: ._s.csv, 2024/, s.csv.gz)"]);
  mkdirSync(join(root, "menu_items"));
  expect(noCsvNote(root, "menu_items")).toBe("menu_items/ holds no .csv file, so it has no rows, and query2.csv lacks what it reads from it");
  mkdirSync(join(root, "stores", "archive.csv"));
  expect(() => validateDataset(root, ["stores"])).toThrow("archive.csv is not a regular file");
});

test("a broken symlink named like a CSV file is a DatasetError naming it, not a bare ENOENT", () => {
  const root = join(dir, "broken-link");
  mkdirSync(join(root, "stores"), { recursive: true });
  symlinkSync(join(root, "nowhere.csv"), join(root, "stores", "s.csv"));
  expect(() => validateDataset(root, ["stores"])).toThrow(expect.objectContaining({ code: "DATASET_INVALID", message: expect.stringContaining("s.csv cannot be read: ENOENT") }));
});

test("--data naming the parent of datasets says which folders below it to pass instead", () => {
  const parent = join(dir, "parent");
  for (const client of ["client1", "client2"]) mkdirSync(join(parent, client, "stores"), { recursive: true });
  mkdirSync(join(parent, "logs"), { recursive: true });
  expect(() => validateDataset(parent, ["stores"])).toThrow(`dataset folder ${join(parent, "stores")} is missing (expected stores/*.csv under ${parent}); client1/, client2/ below it look like datasets: pass one of those as --data`);
  // A dataset reached through a symlink is one too.
  mkdirSync(join(dir, "real", "c3", "users"), { recursive: true });
  const linked = join(dir, "linked");
  mkdirSync(linked);
  symlinkSync(join(dir, "real", "c3"), join(linked, "c3"));
  expect(() => validateDataset(linked, ["stores"])).toThrow("c3/ below it looks like a dataset: pass it as --data");
  // No such hint where nothing below looks like a dataset, nor for a dataset short of one folder.
  mkdirSync(join(dir, "plain"), { recursive: true });
  expect(() => validateDataset(join(dir, "plain"), ["stores"])).toThrow(/is missing \(expected stores\/\*\.csv under .*plain\)$/);
  mkdirSync(join(dir, "short", "users"), { recursive: true });
  mkdirSync(join(dir, "short", "backup", "users"), { recursive: true });
  expect(() => validateDataset(join(dir, "short"), ["stores"])).toThrow(/is missing \(expected stores\/\*\.csv under .*short\)$/);
});

test("a binary file's header is shown escaped and cut short, never as raw bytes on the terminal", () => {
  mkdirSync(join(dir, "binary", "stores"), { recursive: true });
  writeFileSync(join(dir, "binary", "stores", "s.csv"), `\u001b[2J\u0007PK\u0003\u0004${"x".repeat(400)}\n`);
  let message = "";
  try {
    validateDataset(join(dir, "binary"), ["stores"]);
  } catch (err) {
    message = (err as Error).message;
  }
  expect(message).toStartWith('stores/s.csv: header has no column "store_id" (found: \\x1b[2J\\x07PK\\x03\\x04xxx');
  expect(message).not.toMatch(/[\u0000-\u001f]/);
  expect(message).toEndWith("...)");
});
