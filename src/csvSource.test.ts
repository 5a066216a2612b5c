import { afterAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Papa from "papaparse";
import { scanRecords } from "./csvRecords.ts";
import { guessNewline, readEntityFile, type Newline } from "./csvSource.ts";
import type { TextBatch } from "./rowBatcher.ts";
import { unpackColumn } from "./textColumn.ts";

/** Just past the last complete record of `text` (0: none), as the reader cuts chunks. */
const lastRecordEnd = (text: string): number => scanRecords(text, 0, "\n", false).end;

const dir = mkdtempSync(join(tmpdir(), "coffee-csv-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Everything the reader yields and rejects, with the batches flattened to rows. */
async function readAll(file: string, chunkBytes: number, batchRows = 3, newline: Newline | null = null): Promise<{ rows: string[][]; lines: number[]; rejected: number[] }> {
  const rows: string[][] = [];
  const lines: number[] = [];
  const rejected: number[] = [];
  for await (const b of readEntityFile(file, "stores", (l) => rejected.push(l), { batchRows, chunkBytes, ...(newline ? { newline } : {}) }) as AsyncGenerator<TextBatch>) {
    const fields = b.columns.map(unpackColumn);
    for (let r = 0; r < b.lines.length; r++) rows.push(fields.map((c) => c[r]!));
    lines.push(...b.lines);
  }
  return { rows, lines, rejected };
}

/**
 * The oracle: the whole file at once, read by papaparse row by row (its own cursors, not the
 * reader's quote scanner), projected to store_id, store_name. Line breaks are `\n` with a `\r`
 * before it dropped unless it ends a quoted field (bare `\r` only when that is the file's line
 * break); a row's line is the
 * file's line it starts on; a record with a quote error is one bad row, and reading starts
 * again at the line after the one its broken field's quote opened on.
 */
function oracle(text: string, newline?: Newline, fileIsUtf8 = false): { rows: string[][]; lines: number[]; rejected: number[] } {
  const split = (newline ?? guessNewline(text)) === "\r" ? "\r" : "\n";
  const out = { rows: [] as string[][], lines: [] as number[], rejected: [] as number[] };
  let header: string[] | null = null;
  let line = 0;
  let rest = text.replace(/^\uFEFF/, "");
  while (rest.length > 0) {
    // papaparse drops a U+FEFF that starts its input; in the file it is data (see parseText).
    const padded = rest.charCodeAt(0) === 0xfeff;
    const input = padded ? split + rest : rest;
    let from = 0;
    let row = 0;
    let again: string | null = null;
    Papa.parse<string[]>(input, {
      delimiter: ",", newline: split,
      step: (r, parser) => {
        const start = from;
        from = r.meta.cursor;
        if (row++ === 0 && padded) return;
        const fields = r.data;
        if (start >= input.length) return; // the empty row after a final line break
        const first = line + 1;
        line = first + fields.reduce((n, f) => n + f.split(split).length - 1, 0);
        const quoteError = r.errors.find((e) => e.type === "Quotes");
        if (quoteError) {
          // One bad row; reading goes on at the line after the one its broken field's quote
          // opened on (papaparse's index is just past that quote).
          out.rejected.push(first);
          const lineEnd = input.indexOf(split, (quoteError.index ?? start + 1) - 1);
          const span = input.slice(start, lineEnd < 0 ? input.length : lineEnd + 1);
          line = first - 1 + Math.max(1, span.split(split).length - 1);
          again = lineEnd < 0 ? "" : input.slice(lineEnd + 1);
          return parser.abort();
        }
        // papaparse leaves a CRLF's \r on an unquoted last field; a quoted one's \r is its own. Told
        // apart from the raw record (not the reader's lastFieldQuoted): an unquoted field is the
        // raw text after the record's last comma.
        const last = fields[fields.length - 1]!;
        const raw = input.slice(start, r.meta.cursor).replace(/\n$/, "");
        const unquoted = raw.endsWith(last) && (raw.length === last.length || raw[raw.length - last.length - 1] === ",");
        if (split === "\n" && last.endsWith("\r") && unquoted) fields[fields.length - 1] = last.slice(0, -1);
        if (fields.length === 1 && fields[0] === "") return;
        if (!header) return void (header = fields);
        if (fields.length !== header.length) return void out.rejected.push(first);
        // Read from bytes that are not UTF-8, a U+FFFD in a column coffee reads marks bad bytes.
        if (!fileIsUtf8 && [header.indexOf("store_id"), header.indexOf("store_name")].some((c) => fields[c]!.includes("\uFFFD"))) return void out.rejected.push(first);
        out.rows.push([fields[header.indexOf("store_id")]!, fields[header.indexOf("store_name")]!]);
        out.lines.push(first);
      },
    });
    rest = again ?? "";
  }
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
    // The file's own line: quoted line breaks and the empty line come before it.
    expect(expected.rejected).toEqual([9]);
    expect(expected.lines).toEqual([2, 3, 5, 8, 10]);
    for (const chunk of [1, 2, 3, 5, 7, 13, 64, 1 << 20]) {
      expect(await readAll(file, chunk)).toEqual(expected);
      // With the line break given, small files are cut into chunks too (a guess waits for 1 MiB).
      expect(await readAll(file, chunk, 3, "\r\n")).toEqual(expected);
    }
  });

  test("a quote that does not close its field reads as papaparse reads it, at any chunk size", async () => {
    const odd = 'store_id,store_name\n1,"quote"then text\n2,after\n3,"x"\n4,y\n';
    const file = join(dir, "odd.csv");
    writeFileSync(file, odd);
    const expected = oracle(odd);
    for (const chunk of [1, 3, 8, 1 << 20]) {
      expect(await readAll(file, chunk)).toEqual(expected);
      expect(await readAll(file, chunk, 3, "\n")).toEqual(expected);
    }
  });

  test("bytes that are not UTF-8 reject their row only, wherever the chunk boundary falls", async () => {
    const file = join(dir, "bad-utf8.csv");
    const bytes = Buffer.concat([Buffer.from("store_id,store_name\n1,ok\n2,bad "), Buffer.from([0xff, 0xfe]), Buffer.from("\n3,fine ñ\n")]);
    writeFileSync(file, bytes);
    for (const chunk of [1, 4, 16, 1 << 20]) {
      for (const newline of [null, "\n"] as const) {
        const got = await readAll(file, chunk, 3, newline);
        expect(got.rejected).toEqual([3]);
        expect(got.rows).toEqual([["1", "ok"], ["3", "fine ñ"]]);
      }
    }
  });

  test("a U+FFFD a UTF-8 file holds is a character, kept; bad bytes in a column coffee does not read reject nothing", async () => {
    const sound = "store_id,store_name,city\n1,Caf\uFFFD,x\n2,\"b\uFFFD, quoted\",y\n3,c,\uFFFD\n";
    const soundFile = join(dir, "replacement-char.csv");
    writeFileSync(soundFile, sound);
    const expected = oracle(sound, "\n", true);
    expect(expected.rows).toEqual([["1", "Caf\uFFFD"], ["2", "b\uFFFD, quoted"], ["3", "c"]]);
    const mixed = Buffer.concat([Buffer.from("store_id,store_name,city\n1,\"a\",Sevilla "), Buffer.from([0xff]), Buffer.from("\n2,b "), Buffer.from([0xfe]), Buffer.from(",z\n3,\"c\",ok\n")]);
    const mixedFile = join(dir, "bad-bytes-ignored-column.csv");
    writeFileSync(mixedFile, mixed);
    // A real U+FFFD beside bad bytes, in the same chunk or held over with them in a quoted field.
    const beside = Buffer.concat([
      Buffer.from("store_id,store_name,city\n1,a,Sevilla "), Buffer.from([0xff]), Buffer.from("\n2,Caf\uFFFD,x\n"),
      Buffer.from('3,b,"x'), Buffer.from([0xfe]), Buffer.from('\ny"\n4,"d\uFFFD'), Buffer.from([0xc3]), Buffer.from('\ne",z\n5,\uFFFD,w\n'),
    ]);
    const besideFile = join(dir, "replacement-char-beside-bad-bytes.csv");
    writeFileSync(besideFile, beside);
    for (let chunk = 1; chunk <= 64; chunk++) {
      if (chunk <= 16) {
        expect(await readAll(soundFile, chunk, 2, "\n")).toEqual(expected);
        const got = await readAll(mixedFile, chunk, 2, "\n");
        // Row 2's name holds the bad byte; row 1's is in the city column, read by nobody.
        expect(got.rejected).toEqual([3]);
        expect(got.rows).toEqual([["1", "a"], ["3", "c"]]);
      }
      // Only row 4's name holds a bad byte; every U+FFFD is a character, wherever the chunks fall.
      const got = await readAll(besideFile, chunk, 2, "\n");
      expect(got.rejected).toEqual([6]);
      expect(got.rows).toEqual([["1", "a"], ["2", "Caf\uFFFD"], ["3", "b"], ["5", "\uFFFD"]]);
    }
  });

  test("a \\r a quoted last field ends with is the field's own; an unquoted one's is the CRLF line break's", async () => {
    const text = 'store_id,store_name\n4,"Four\r"\n5,plain\r\n6,"Six\r"\r\n7,"q""\r"\n8,a"b\r\n9,"nine"\r\n';
    const file = join(dir, "quoted-cr.csv");
    writeFileSync(file, text);
    const rows = [["4", "Four\r"], ["5", "plain"], ["6", "Six\r"], ["7", 'q"\r'], ["8", 'a"b'], ["9", "nine"]];
    for (let chunk = 1; chunk <= 64; chunk++) expect((await readAll(file, chunk, 3, "\n")).rows).toEqual(rows);
    expect((await readAll(file, 1 << 20, 3)).rows).toEqual(rows);
  });

  test("random records with the read name last, \\r and quotes around its end: every chunk size reads what the oracle reads", async () => {
    let seed = 5;
    const rnd = (n: number): number => (seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) % n;
    const pieces = ["a", "\r", '"', '""', " ", "\n", "\r\n", ",", "\uFEFF", '\r"', '"\r'];
    const file = join(dir, "last-field-cr.csv");
    for (let round = 0; round < 400; round++) {
      const lines = ["store_id,store_name"];
      for (let r = 0, n = 1 + rnd(6); r < n; r++) {
        const field = Array.from({ length: rnd(4) }, () => pieces[rnd(pieces.length)]!).join("");
        const lead = rnd(5) === 0 ? "\uFEFF" : "";
        lines.push(rnd(6) === 0 ? "" : rnd(2) ? `${lead}${r},"${field}"${rnd(2) ? " " : ""}` : `${lead}${r},${field}`);
      }
      const text = lines.join(rnd(2) ? "\n" : "\r\n") + (rnd(2) ? "\r\n" : "");
      writeFileSync(file, text);
      const expected = oracle(text, "\n");
      for (const chunk of [1 + rnd(7), 1 << 20]) expect(await readAll(file, chunk, 3, "\n")).toEqual(expected);
    }
  });

  test("bytes that are not UTF-8 inside a quoted field spanning lines: re-encoded rest outgrows the buffer", async () => {
    const file = join(dir, "bad-utf8-quoted.csv");
    const bytes = Buffer.concat([Buffer.from('store_id,store_name\n1,"a'), Buffer.alloc(11, 0xff), Buffer.from('\nz"\n2,c\n3,d\n')]);
    writeFileSync(file, bytes);
    const expected = oracle(new TextDecoder().decode(bytes), "\n");
    expect(expected.rows).toEqual([["2", "c"], ["3", "d"]]);
    for (let chunk = 1; chunk <= 48; chunk++) expect(await readAll(file, chunk, 2, "\n")).toEqual(expected);
  });

  test("a U+FEFF starting a record inside the file is data, wherever a chunk starts", async () => {
    const odd = "store_id,store_name\n1,é\n\uFEFF2,b\n\uFEFF\n3,c\n";
    const file = join(dir, "inner-bom.csv");
    writeFileSync(file, odd);
    const expected = oracle(odd, "\n");
    expect(expected.rows).toEqual([["1", "é"], ["\uFEFF2", "b"], ["3", "c"]]);
    expect(expected.rejected).toEqual([4]);
    for (let chunk = 1; chunk <= 40; chunk++) expect(await readAll(file, chunk, 2, "\n")).toEqual(expected);
  });

  test("bytesRead is where each batch's last row ends, exactly, when the byte scan read it", async () => {
    const rows = Array.from({ length: 40 }, (_, i) => `${i},name ${"x".repeat(i % 7)}`);
    const text = ["store_id,store_name", ...rows].join("\n") + "\n";
    const file = join(dir, "offsets.csv");
    writeFileSync(file, text);
    const ends: number[] = [];
    for (let at = text.indexOf("\n") + 1; at < text.length; at = text.indexOf("\n", at) + 1) ends.push(text.indexOf("\n", at) + 1);
    for (const chunk of [5, 17, 64, 1 << 20]) {
      const seen: number[] = [];
      for await (const b of readEntityFile(file, "stores", () => {}, { batchRows: 1, chunkBytes: chunk, newline: "\n" })) seen.push(b.bytesRead);
      expect(seen).toEqual(ends);
    }
  });

  test("a stray quote rejects its own line only: the lines it would swallow are read, and counted", async () => {
    const cases: [string, number[], string[]][] = [
      // Never closed: papaparse would make the rest of the file one field (MissingQuotes).
      ['store_id,store_name\n1,a\n2,"b\n3,c\n4,d\n', [3], ["1", "3", "4"]],
      // Closed by a later field's quote (InvalidQuotes): the lines between would be one record.
      ['store_id,store_name\n1,a\n"2,b\n3,c\n4,"Plaza, Norte"\n5,e\n', [3], ["1", "3", "4", "5"]],
      // In the last column, where the swallowed record would even have the right width.
      ['store_id,store_name\n1,"a\n2,b\n', [2], ["2"]],
      // CRLF, and two of them.
      ['store_id,store_name\r\n1,"a\r\n2,b\r\n3,"c\r\n4,d\r\n', [2, 4], ["2", "4"]],
      // Broken on a later line of a record whose first field holds line breaks: those lines are
      // inside a sound quoted field, not rows; reading goes on after the broken quote's line.
      ['store_id,store_name,note\n1,"Plaza\n7,Fake,z\n","bad"q\n2,b,c\n', [2], ["2"]],
      // A broken quote every few rows: each one rejected on its own line, none swallowing others.
      [`store_id,store_name\n${Array.from({ length: 30 }, (_, i) => (i % 4 === 1 ? `${i},"Big" Cafe` : `${i},Cafe`)).join("\n")}\n`,
        [3, 7, 11, 15, 19, 23, 27, 31], Array.from({ length: 30 }, (_, i) => String(i)).filter((_, i) => i % 4 !== 1)],
    ];
    for (const [odd, rejected, ids] of cases) {
      const file = join(dir, "stray-quote.csv");
      writeFileSync(file, odd);
      const expected = oracle(odd);
      expect(expected.rejected).toEqual(rejected);
      expect(expected.rows.map((r) => r[0])).toEqual(ids);
      for (const chunk of [1, 2, 5, 9, 1 << 20]) {
        expect(await readAll(file, chunk)).toEqual(expected);
        expect(await readAll(file, chunk, 2, odd.includes("\r\n") ? "\r\n" : "\n")).toEqual(expected);
      }
    }
  });

  test("a file mixing \\n and \\r\\n line breaks loses no row, whichever comes first", async () => {
    for (const odd of ["store_id,store_name\n1,a\r\n2,b\r\n3,c\n", "store_id,store_name\r\n1,a\n2,b\n3,\"c\"\r\n"]) {
      const file = join(dir, "mixed.csv");
      writeFileSync(file, odd);
      for (const chunk of [1, 3, 1 << 20]) {
        const got = await readAll(file, chunk);
        expect(got).toEqual({ rows: [["1", "a"], ["2", "b"], ["3", "c"]], lines: [2, 3, 4], rejected: [] });
      }
    }
  });
});

/** 500 files read at every chunk size take ~5 s on a slow 2-core machine: more than the default 5 s. */
const RANDOM_FILES_TIMEOUT_MS = 60_000;

describe("chunked reading equals one whole-file parse on random CSV", () => {
  test("500 random files: quotes, escaped quotes, spaces after quotes, CRLF, line breaks in fields", async () => {
    let seed = 99;
    const rnd = (n: number): number => (seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) % n;
    const pieces = ["a", "b c", ",", "\n", "\r\n", "\r", '"', '""', " ", "\t", "ñ", "1", '"x" ', '" ,', '"\n'];
    for (let round = 0; round < 500; round++) {
      const newline = (["\n", "\r\n", "\r"] as const)[rnd(3)]!;
      const rows = ["store_id,store_name,city"];
      for (let r = 0, n = 1 + rnd(8); r < n; r++) {
        const field = (): string => Array.from({ length: rnd(5) }, () => pieces[rnd(pieces.length)]!).join("");
        rows.push(rnd(3) === 0 ? `${r},"${field()}"${rnd(2) ? " " : ""},${field()}` : `${r},${field()},${field()}`);
      }
      const text = rows.join(newline) + (rnd(2) ? newline : "");
      const file = join(dir, `random-${round}.csv`);
      writeFileSync(file, text);
      // Same line break on both sides: this checks where chunks are cut, at tiny chunk sizes.
      const expected = oracle(text, newline);
      for (const chunk of [1 + rnd(7), 8 + rnd(40)]) {
        const got = await readAll(file, chunk, 3, newline);
        if (JSON.stringify(got) !== JSON.stringify(expected)) {
          throw new Error(`chunk ${chunk} differs on ${JSON.stringify(text)}:\n got ${JSON.stringify(got)}\n want ${JSON.stringify(expected)}`);
        }
      }
      // Guessed line breaks (held back until papaparse's guess window or the end) agree as well.
      expect(await readAll(file, 1 + rnd(16))).toEqual(oracle(text));
      expect(guessNewline(text)).toBe(Papa.parse(text, { delimiter: "," }).meta.linebreak as Newline);
    }
  }, RANDOM_FILES_TIMEOUT_MS);

  test("500 random ASCII files without quotes (the byte scan), some chunks falling back to papaparse", async () => {
    let seed = 7;
    const rnd = (n: number): number => (seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) % n;
    const pieces = ["a", "b c", ",", "\n", "\r\n", "\r", " ", "\t", "1", "x,y", "\n\n", "\r\n\r\n"];
    for (let round = 0; round < 500; round++) {
      const newline = (["\n", "\r\n", "\r"] as const)[rnd(3)]!;
      const header = ["city", "store_name", "extra", "store_id"].sort(() => rnd(3) - 1);
      const rows = [header.join(",")];
      for (let r = 0, n = 1 + rnd(12); r < n; r++) {
        const field = (): string => Array.from({ length: rnd(4) }, () => pieces[rnd(pieces.length)]!).join("");
        // Now and then a quote or a non-ASCII letter: that chunk takes papaparse, the others the scan.
        const odd = rnd(10) === 0 ? ['"q"', "ñ", "\uFEFF"][rnd(3)]! : "";
        rows.push(rnd(6) === 0 ? "" : [rnd(2) ? `${r}${odd}` : `${odd}${r}`, field(), field(), field()].join(","));
      }
      const text = (rnd(4) === 0 ? "\uFEFF" : "") + rows.join(newline) + (rnd(2) ? newline : "");
      const file = join(dir, `ascii-${round}.csv`);
      writeFileSync(file, text);
      const expected = oracle(text, newline);
      for (const chunk of [1 + rnd(7), 8 + rnd(40), 1 << 20]) {
        const got = await readAll(file, chunk, 1 + rnd(4), newline);
        expect(got).toEqual(expected);
      }
      // A guessed line break can differ from the one written, which can merge the header with a row.
      const guessed = 1 + rnd(16);
      if (guessNewline(text) === newline) expect(await readAll(file, guessed)).toEqual(expected);
    }
  }, RANDOM_FILES_TIMEOUT_MS);

  test("whitespace after a closing quote closes the field (the case a review found)", async () => {
    const text = 'store_id,store_name\n1,"abc" \n2,",\nfoo"\n3,x\n';
    const file = join(dir, "space-after-quote.csv");
    writeFileSync(file, text);
    expect(lastRecordEnd(text)).toBe(text.length);
    // Cut before record 2, whose quoted name holds a line break, not inside it.
    expect(lastRecordEnd('store_id,store_name\n1,"abc" \n2,",\nfoo')).toBe(29);
    for (const chunk of [1, 30, 34, 35, 36, 37, 1 << 20]) expect(await readAll(file, chunk, 3, "\n")).toEqual(oracle(text));
  });
});

test("each row the reader rejects comes with why: field count, broken quote, bytes that are not UTF-8", async () => {
  // ASCII without quotes is read by the byte scan; quotes and other bytes by papaparse: one file each.
  const ascii = join(dir, "reasons-ascii.csv");
  writeFileSync(ascii, "store_id,store_name\n1,a\n2\n3,c,extra\n4,d\n");
  const other = join(dir, "reasons-other.csv");
  writeFileSync(other, Buffer.concat([
    Buffer.from("store_id,store_name\n1,a\n2,\"b,x\n3,c,extra\n4,\"d\"x\n5,\"e\"\n"),
    Buffer.from("6,f"), Buffer.from([0xff]), Buffer.from("\n7,g\n"),
  ]));
  const read = async (file: string, chunkBytes: number): Promise<{ kept: number[]; seen: [number, string][] }> => {
    const seen: [number, string][] = [];
    const kept: number[] = [];
    for await (const b of readEntityFile(file, "stores", (line, reason) => seen.push([line, reason]), { batchRows: 10, chunkBytes })) kept.push(...b.lines);
    return { kept, seen };
  };
  const broken = "a quoted field that does not close, or text after its closing quote";
  for (const chunkBytes of [8, 1 << 16]) {
    expect(await read(ascii, chunkBytes)).toEqual({
      kept: [2, 5],
      seen: [[3, "1 field where the header has 2"], [4, "3 fields where the header has 2"]],
    });
    expect(await read(other, chunkBytes)).toEqual({
      kept: [2, 6, 8],
      seen: [[3, broken], [4, "3 fields where the header has 2"], [5, broken], [7, "bytes that are not UTF-8"]],
    });
  }
});

test("a line over 8 MiB with no line break is one rejected row, dropped whole: the lines after it keep their numbers", async () => {
  const file = join(dir, "long-line.csv");
  const long = `3,${"x".repeat(9 * 1024 * 1024)}`;
  writeFileSync(file, `store_id,store_name\n1,a\n${long}\n4\n5,e\n`);
  const last = join(dir, "long-last-line.csv");
  writeFileSync(last, `store_id,store_name\n1,a\n${long}`);
  const read = async (path: string, chunkBytes: number): Promise<{ kept: number[]; seen: [number, string][] }> => {
    const seen: [number, string][] = [];
    const kept: number[] = [];
    for await (const b of readEntityFile(path, "stores", (line, reason) => seen.push([line, reason]), { batchRows: 10, chunkBytes, newline: "\n" })) kept.push(...b.lines);
    return { kept, seen };
  };
  for (const chunkBytes of [1 << 16, 1 << 20]) {
    expect(await read(file, chunkBytes)).toEqual({ kept: [2, 5], seen: [[3, "a line of over 8 MiB with no line break"], [4, "1 field where the header has 2"]] });
    expect(await read(last, chunkBytes)).toEqual({ kept: [2], seen: [[3, "a line of over 8 MiB with no line break"]] });
  }
});

test("a row rejected for bad bytes cuts no batch, even when every row fills one (a batch never comes out empty)", async () => {
  const file = join(dir, "bad-byte-cut.csv");
  writeFileSync(file, Buffer.concat([Buffer.from("store_id,store_name\n1,a\n2,"), Buffer.from([0xe9]), Buffer.from("\n3,c\n")]));
  const lines: number[][] = [];
  for await (const b of readEntityFile(file, "stores", () => {}, { batchRows: 10, batchBytes: 0 })) lines.push(b.lines);
  expect(lines).toEqual([[2], [4]]);
});
