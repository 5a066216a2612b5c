import { afterAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Papa from "papaparse";
import { lastRecordEnd, readEntityFile, type TextBatch } from "./csvSource.ts";
import { unpackColumn } from "./textColumn.ts";

const dir = mkdtempSync(join(tmpdir(), "coffee-csv-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Everything the reader yields and rejects, with the batches flattened to rows. */
async function readAll(file: string, chunkBytes: number, batchRows = 3): Promise<{ rows: string[][]; lines: number[]; rejected: number[] }> {
  const rows: string[][] = [];
  const lines: number[] = [];
  const rejected: number[] = [];
  for await (const b of readEntityFile(file, "stores", batchRows, (l) => rejected.push(l), chunkBytes) as AsyncGenerator<TextBatch>) {
    const fields = b.columns.map(unpackColumn);
    for (let r = 0; r < b.lines.length; r++) rows.push(fields.map((c) => c[r]!));
    lines.push(...b.lines);
  }
  return { rows, lines, rejected };
}

/** The oracle: the whole file in one papaparse call, projected to store_id, store_name. */
function oracle(text: string): { rows: string[][]; lines: number[]; rejected: number[] } {
  const all = Papa.parse<string[]>(text.replace(/^\uFEFF/, ""), { skipEmptyLines: true, delimiter: "," }).data;
  const header = all[0]!;
  const [id, name] = [header.indexOf("store_id"), header.indexOf("store_name")];
  const out = { rows: [] as string[][], lines: [] as number[], rejected: [] as number[] };
  all.slice(1).forEach((row, i) => {
    if (row.length !== header.length || row.some((f) => f.includes("\uFFFD"))) out.rejected.push(i + 2);
    else { out.rows.push([row[id]!, row[name]!]); out.lines.push(i + 2); }
  });
  return out;
}

describe("readEntityFile", () => {
  const text = [
    "\uFEFFstore_id,store_name,city",
    '1,"Plain, with comma",Madrid',
    '2,"Two\nlines",Sevilla',
    '3,"Escaped ""quotes"", and\r\nCRLF inside",Bilbao',
    "",
    "4,Café ☕ Ñandú,Valencia",
    "5,too,many,fields",
    "7,last without newline,Toledo",
  ].join("\r\n");

  test("every chunk size reads what one whole-file parse reads (quotes, CRLF, BOM, multi-byte, bad rows)", async () => {
    const file = join(dir, "stores.csv");
    writeFileSync(file, text);
    const expected = oracle(text);
    expect(expected.rows.length).toBe(5);
    expect(expected.rejected).toEqual([6]);
    for (const chunk of [1, 2, 3, 5, 7, 13, 64, 1 << 20]) expect(await readAll(file, chunk)).toEqual(expected);
  });

  test("a quote that does not close its field reads as papaparse reads it, at any chunk size", async () => {
    const odd = 'store_id,store_name\n1,"quote"then text\n2,after\n3,"x"\n4,y\n';
    const file = join(dir, "odd.csv");
    writeFileSync(file, odd);
    const expected = oracle(odd);
    for (const chunk of [1, 3, 8, 1 << 20]) expect(await readAll(file, chunk)).toEqual(expected);
  });

  test("bytes that are not UTF-8 reject their row only, wherever the chunk boundary falls", async () => {
    const file = join(dir, "bad-utf8.csv");
    const bytes = Buffer.concat([Buffer.from("store_id,store_name\n1,ok\n2,bad "), Buffer.from([0xff, 0xfe]), Buffer.from("\n3,fine ñ\n")]);
    writeFileSync(file, bytes);
    for (const chunk of [1, 4, 16, 1 << 20]) {
      const got = await readAll(file, chunk);
      expect(got.rejected).toEqual([3]);
      expect(got.rows).toEqual([["1", "ok"], ["3", "fine ñ"]]);
    }
  });

  test("lastRecordEnd cuts only after complete records", () => {
    expect(lastRecordEnd("a,b\nc,d")).toBe(4);
    expect(lastRecordEnd("a,b")).toBe(-1);
    expect(lastRecordEnd('a,"b\nc"\nd')).toBe(8);
    expect(lastRecordEnd('a,"b\nc')).toBe(-1);
    expect(lastRecordEnd('a,"x""\n""y"\n')).toBe(12);
    // A quote inside an unquoted field is data, as papaparse reads it.
    expect(lastRecordEnd('a,5" pipe\nb')).toBe(10);
  });
});
