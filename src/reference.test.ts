/**
 * Tests of `coffee reference`: hand-computed expected CSV text for tiny datasets covering every
 * edge of contract §3–§4, and a cross-check against the independent Python oracle
 * (test/oracle/oracle.py) on a seeded synthetic dataset.
 */
import { afterAll, describe, expect, test } from "bun:test";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { referenceCommand, referenceProgressRenderer } from "./commands/reference.ts";
import { rejectLine } from "./rejectReport.ts";
import { DatasetError, SumOverflowError } from "./errors.ts";
import { MAX_COUNT } from "./exactSum.ts";
import { computeReference, UserCounts, type ReferenceProgress } from "./reference.ts";
import { ENTITIES, QUERIES, queryFileName } from "./schema.ts";

const tempDirs: string[] = [];
afterAll(() => {
  for (const d of tempDirs) rmSync(d, { recursive: true, force: true });
});

function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), "coffee-reference-"));
  tempDirs.push(d);
  return d;
}

/** Write `files` (path relative to the dataset → content) below a fresh dir with all five folders. */
function writeDataset(files: Record<string, string>): string {
  const dir = tempDir();
  for (const e of ENTITIES) mkdirSync(join(dir, e), { recursive: true });
  for (const [path, text] of Object.entries(files)) {
    mkdirSync(dirname(join(dir, path)), { recursive: true });
    writeFileSync(join(dir, path), text);
  }
  return dir;
}

const lines = (...rows: string[]): string => rows.map((r) => `${r}\n`).join("");

const TX_HEADER = "transaction_id,store_id,payment_method_id,voucher_id,user_id,original_amount,discount_applied,final_amount,created_at";

const TINY: Record<string, string> = {
  "stores/stores.csv": lines(
    "store_id,store_name,street,postal_code,city,state,latitude,longitude",
    "1,Beta,Jalan 1,47610,USJ,Selangor,3.1,101.6",
    '2,"Alpha, Downtown",Jalan 2,50000,KL,KL,3.1,101.7',
    "3,Beta,Jalan 3,50000,KL,KL,3.2,101.7",
  ),
  "menu_items/menu_items.csv": lines(
    "item_id,item_name,category,price,is_seasonal,available_from,available_to",
    "1,Espresso,coffee,6.0,False,,",
    '2,"Latte, Large",coffee,10.0,False,,',
    "3,Cake,food,12.0,False,,",
  ),
  "users/users_202301.csv": lines(
    "user_id,gender,birthdate,registered_at",
    "140170,female,1965-03-04,2023-01-01 10:00:00",
    "5,male,1990-01-01,2023-01-01 10:00:00",
    "6,male,1991-02-02,2023-01-01 10:00:00",
    "7,female,1992-03-03,2023-01-01 10:00:00",
    "8,male,1993-04-04,2023-01-01 10:00:00",
    "5,male,1999-09-09,2023-01-02 10:00:00",
    "x9,male,2000-01-01,2023-01-02 10:00:00",
  ),
  "transactions/transactions.csv": lines(
    TX_HEADER,
    "t01,1,1,,140170.0,80.0,0.0,80.0,2024-01-15 06:00:00", // 2: window start, in
    "t02,1,1,,140170,75.0,0.0,75.0,2024-01-15 05:59:59", // 3: before window; Q4 only
    "t03,1,1,,5,75.0,0.0,75.0,2024-07-01 23:00:00", // 4: window end, in; amount 75.0 in
    "t04,1,1,,5,75.0,0.0,74.99,2024-07-01 12:00:00", // 5: 74.99 not Q1, but Q3
    "t05,1,1,,6,100.0,0.0,100.0,2024-07-01 23:00:01", // 6: after window; Q4 only
    "t06,1,1,,6,100.0,0.0,100.0,2023-12-31 12:00:00", // 7: 2023: nowhere
    "a07,9,1,,7,90.0,0.0,90.0,2025-02-01 10:00:00", // 8: store 9 unknown: Q1 only
    "t08,2,1,,,200.0,0.0,200.0,2025-03-01 10:00:00", // 9: no user
    "t09,2,1,,7,50.0,0.0,50.0,2025-08-01 10:00:00", // 10
    "t10,2,1,,8,50.0,0.0,abc,2025-08-01 10:00:00", // 11: bad amount
    "t11,2,1,,8,50.0,0.0,50.0", // 12: wrong field count
    "t12,3,1,,8,20.25,0.0,20.25,2025-08-01 10:00:00", // 13
    "t13,2,1,,8,10.0,0.0,10.0,2025-09-01 10:00:00", // 14
    "t14,2,1,,140170,10.0,0.0,10.0,2025-09-01 10:00:00", // 15
    "t15,2,1,,6,10.0,0.0,10.0,2025-09-01 10:00:00", // 16
    "t16,2,1,,5,10.0,0.0,10.0,2025-09-01 10:00:00", // 17
    "t17,2,1,,140170.0,10.0,0.0,10.0,2025-09-02 04:00:00", // 18: Q4 only
    "t18,3,1,,77,5.0,0.0,5.0,2024-03-03 03:00:00", // 19: user 77 not in users
    "t19,3,1,,77,5.0,0.0,5.0,2024-03-03 03:00:00", // 20
    "t20,1,1,,5,30.5,0.0,30.5,2025-12-31 22:59:59", // 21
  ),
  "transaction_items/transaction_items.csv": lines(
    "transaction_id,item_id,quantity,unit_price,subtotal,created_at",
    "t02,2,2,10.0,20.0,2024-01-15 05:59:59",
    "t01,1,3,6.0,18.0,2024-01-15 06:00:00",
    "t01,2,1,10.0,10.0,2024-01-15 06:00:00",
    "t30,3,1,12.0,12.0,2024-02-10 23:59:59",
    "t31,1,2,6.0,12.0,2024-02-01 00:00:00",
    "t32,3,100,12.0,1200.0,2023-12-31 23:59:59",
    "t33,4,5,10.0,50.0,2025-01-20 10:00:00",
    "t34,1,1,6.0,6.0,2025-01-20 10:00:00",
    "t35,1,two,6.0,12.0,2025-01-20 10:00:00",
    "t36,1,1,6.0,6.0,2025-02-30 10:00:00",
  ),
};

const TINY_EXPECTED = {
  q1: lines("transaction_id,final_amount", "a07,90.0", "t01,80.0", "t03,75.0", "t08,200.0"),
  q2: lines(
    "year_month_created_at,item_name,sellings_qty,profit_sum,metric_type",
    '2024-01,"Latte, Large",,30.0,most_profitable',
    "2024-01,Espresso,3,,most_sold",
    "2024-02,Espresso,,12.0,most_profitable",
    "2024-02,Espresso,2,,most_sold",
    "2025-01,,,50.0,most_profitable",
    "2025-01,,5,,most_sold",
  ),
  q3: lines(
    "year_half_created_at,store_name,tpv",
    "2024-H1,Beta,80.0",
    "2024-H2,Beta,149.99",
    '2025-H1,"Alpha, Downtown",200.0',
    '2025-H2,"Alpha, Downtown",90.0',
    "2025-H2,Beta,30.5",
    "2025-H2,Beta,20.25",
  ),
  q4: lines(
    "store_name,birthdate",
    '"Alpha, Downtown",1965-03-04',
    '"Alpha, Downtown",1999-09-09',
    '"Alpha, Downtown",1991-02-02',
    "Beta,1999-09-09",
    "Beta,1965-03-04",
    "Beta,1991-02-02",
    "Beta,",
    "Beta,1993-04-04",
  ),
};

describe("computeReference on a hand-computed dataset", () => {
  test("all four queries match the contract byte for byte", async () => {
    const result = await computeReference(writeDataset(TINY), { batchRows: 3 });
    expect(result.queries.q1).toBe(TINY_EXPECTED.q1);
    expect(result.queries.q2).toBe(TINY_EXPECTED.q2);
    expect(result.queries.q3).toBe(TINY_EXPECTED.q3);
    expect(result.queries.q4).toBe(TINY_EXPECTED.q4);
  });

  test("an entity folder without a CSV file is said in notes, as the client says it; a full dataset has none", async () => {
    expect((await computeReference(writeDataset(TINY))).notes).toEqual([]);
    const noStores = Object.fromEntries(Object.entries(TINY).filter(([path]) => !path.startsWith("stores/")));
    const result = await computeReference(writeDataset(noStores));
    expect(result.notes).toEqual(["stores/ holds no .csv file, so it has no rows, and query3.csv and query4.csv lack what they read from it"]);
    expect(result.queries.q3).toBe("year_half_created_at,store_name,tpv\n");
  });

  test("malformed rows are skipped and reported with their line numbers", async () => {
    const result = await computeReference(writeDataset(TINY), { batchRows: 3 });
    expect(result.rejects).toEqual([
      { file: "transactions/transactions.csv", count: 2, firstLines: [11, 12], reasons: [
        { reason: "final_amount is not an amount exact to the cent, from -90071992547409.91 to 90071992547409.91 (at most 15 digits before the point, leading zeros not counted)", count: 1, firstLines: [11] },
        { reason: "8 fields where the header has 9", count: 1, firstLines: [12] },
      ] },
      { file: "transaction_items/transaction_items.csv", count: 2, firstLines: [10, 11], reasons: [
        { reason: "quantity is not a whole number of at most 15 digits, leading zeros not counted", count: 1, firstLines: [10] },
        { reason: "created_at is not a valid YYYY-MM-DD HH:MM:SS timestamp", count: 1, firstLines: [11] },
      ] },
      { file: "users/users_202301.csv", count: 1, firstLines: [8], reasons: [{ reason: "user_id is not an id (a whole number from 0 to 2147483647)", count: 1, firstLines: [8] }] },
    ]);
    expect(result.rowsRead).toBe(3 + 3 + 20 + 10 + 7);
    expect(result.rowsRejected).toBe(5);
  });

  test("the result does not depend on the batch size", async () => {
    const dir = writeDataset(TINY);
    const a = await computeReference(dir, { batchRows: 1 });
    const b = await computeReference(dir, { batchRows: 100_000 });
    expect(a).toEqual(b);
  });

  test("a user listed twice takes the later birthdate, whichever file is read first", async () => {
    const header = "user_id,gender,birthdate,registered_at";
    const later = lines(header, "140170,female,1999-12-31,2023-01-01 10:00:00");
    const earlier = lines(header, "140170,female,1970-01-01,2023-01-01 10:00:00");
    const run = async (a: string, b: string): Promise<string> =>
      (await computeReference(writeDataset({ ...TINY, "users/users_202302.csv": a, "users/users_202303.csv": b }))).queries.q4;
    const laterFirst = await run(later, earlier);
    expect(laterFirst).toBe(await run(earlier, later));
    expect(laterFirst).toBe(TINY_EXPECTED.q4.replaceAll("1965-03-04", "1999-12-31"));
  });

  test("reject lines keep only the smallest line numbers and mark the rest", async () => {
    const bad = Array.from({ length: 14 }, (_, i) => `b${i},1,1,,5,1.0,0.0,oops,2024-01-01 10:00:00`);
    const dir = writeDataset({ ...TINY, "transactions/transactions.csv": lines(TX_HEADER, ...bad, "x,1") });
    const result = await computeReference(dir, { batchRows: 4, maxRejectLines: 3 });
    const rej = result.rejects.find((r) => r.file.startsWith("transactions/"));
    expect(rej).toEqual({ file: "transactions/transactions.csv", count: 15, firstLines: [2, 3, 4], reasons: [
      { reason: "final_amount is not an amount exact to the cent, from -90071992547409.91 to 90071992547409.91 (at most 15 digits before the point, leading zeros not counted)", count: 14, firstLines: [2, 3, 4] },
      { reason: "2 fields where the header has 9", count: 1, firstLines: [16] },
    ] });
    expect(rejectLine(rej!)).toBe("transactions/transactions.csv: 15 rows rejected (lines 2, 3, 4, ...)");
    expect(rejectLine({ file: "f.csv", count: 2, firstLines: [5, 9] })).toBe("f.csv: 2 rows rejected (lines 5, 9)");
  });

  test("progress is told after every batch: files done of all files, and rows read so far", async () => {
    const seen: ReferenceProgress[] = [];
    const result = await computeReference(writeDataset(TINY), { batchRows: 2, onProgress: (p) => seen.push(p) });
    const last = seen.at(-1)!;
    expect(last.filesTotal).toBe(Object.keys(TINY).length);
    expect(last.filesDone).toBe(last.filesTotal);
    expect(last.rowsRead).toBe(result.rowsRead);
    for (let i = 1; i < seen.length; i++) {
      expect(seen[i]!.filesDone).toBeGreaterThanOrEqual(seen[i - 1]!.filesDone);
      expect(seen[i]!.rowsRead).toBeGreaterThanOrEqual(seen[i - 1]!.rowsRead);
    }
    // More reports than files: batches of 2 rows report between files too.
    expect(seen.length).toBeGreaterThan(last.filesTotal);
    const render = referenceProgressRenderer(() => last, 0);
    expect(render.log(65_000)).toEqual([`reference: ${last.filesTotal}/${last.filesTotal} files, ${result.rowsRead} rows read (users), 1m05s`]);
    expect(render.frame(120, 65_000)[0]).toContain("█".repeat(20));
    expect(referenceProgressRenderer(() => null, 0).log(2_000)).toEqual(["reference: listing files, 2s"]);
  });

  test("a missing entity folder is a DatasetError", async () => {
    const dir = writeDataset(TINY);
    rmSync(join(dir, "users"), { recursive: true });
    await expect(computeReference(dir)).rejects.toBeInstanceOf(DatasetError);
  });

  test("the reference command writes query1.csv .. query4.csv", async () => {
    const data = writeDataset(TINY);
    const out = join(tempDir(), "out");
    const quiet = silence();
    let code: number;
    try {
      code = await referenceCommand.run({ data, out, "batch-rows": 5000 });
    } finally {
      quiet.restore();
    }
    expect(code).toBe(0);
    for (const q of QUERIES) expect(readFileSync(join(out, queryFileName(q)), "utf8")).toBe(TINY_EXPECTED[q]);
    expect(quiet.stderr).toContain("rejected: transactions/transactions.csv: 2 rows rejected (lines 11, 12)\n");
    expect(quiet.stdout).toMatch(/^reference: 43 rows read, 5 rejected, [\d.]+ s/);
  });
});

describe("sums at the edge of exactness (2^53 - 1 cents or units)", () => {
  const ITEMS_HEADER = "transaction_id,item_id,quantity,unit_price,subtotal,created_at";
  /** One store, one item, one user; `transactions` rows of final_amount `amount`, `items` rows of `quantity` and `subtotal`. */
  const dataset = (transactions: number, amount: string, items: number, quantity: string, subtotal: string): string => writeDataset({
    "stores/stores.csv": lines("store_id,store_name,street,postal_code,city,state,latitude,longitude", "1,S,a,1,c,s,1,1"),
    "menu_items/menu_items.csv": lines("item_id,item_name,category,price,is_seasonal,available_from,available_to", "1,Espresso,coffee,6.0,False,,"),
    "users/users.csv": lines("user_id,gender,birthdate,registered_at", "1,male,1990-01-01,2023-01-01 10:00:00"),
    "transactions/transactions.csv": lines(TX_HEADER, ...Array.from({ length: transactions }, (_, i) => `t${i},1,1,,1,${amount},0.0,${amount},2024-01-01 12:00:00`)),
    "transaction_items/transaction_items.csv": lines(ITEMS_HEADER, ...Array.from({ length: items }, (_, i) => `t${i},1,${quantity},0.1,${subtotal},2024-01-01 12:00:00`)),
  });

  async function runReference(data: string): Promise<{ code: number; stderr: string; out: string }> {
    const out = join(tempDir(), "out");
    const quiet = silence();
    try {
      return { code: await referenceCommand.run({ data, out, "batch-rows": 5000 }), stderr: quiet.stderr, out };
    } finally {
      quiet.restore();
    }
  }

  test("totals up to 2^53 - 1 print exactly", async () => {
    const data = dataset(2, "45035996273704.95", 10, "900719925474099", "9007199254740.99");
    const result = await computeReference(data);
    expect(result.queries.q3).toBe(lines("year_half_created_at,store_name,tpv", "2024-H1,S,90071992547409.9"));
    expect(result.queries.q2).toBe(lines(
      "year_month_created_at,item_name,sellings_qty,profit_sum,metric_type",
      "2024-01,Espresso,,90071992547409.9,most_profitable",
      "2024-01,Espresso,9007199254740990,,most_sold",
    ));
  });

  // Sums past 2^53: 20 rows of the largest amount, and of 15-digit quantities. A float64 sum
  // printed tpv and profit_sum 1801439850948198.08 (not .2) and sellings_qty 18014398509481988.
  for (const [column, data] of [
    ["final_amount", () => dataset(20, "90071992547409.91", 1, "1", "1.0")],
    ["subtotal", () => dataset(1, "1.0", 20, "1", "90071992547409.91")],
    ["quantity", () => dataset(1, "1.0", 20, "900719925474099", "1.0")],
  ] as const) {
    test(`a ${column} total past 2^53 - 1 fails the run, naming the limit, and writes no result`, async () => {
      const { code, stderr, out } = await runReference(data());
      expect(code).toBe(1);
      const limit = column === "quantity" ? "9007199254740991" : "90071992547409.91";
      expect(stderr).toBe(`coffee reference: LIMIT_EXCEEDED: a sum of ${column} passed ${limit}, the largest total coffee adds exactly\n`);
      for (const q of QUERIES) expect(existsSync(join(out, queryFileName(q)))).toBe(false);
    });
  }
});

/** Capture process.stdout/stderr writes until restore(). */
function silence(): { stdout: string; stderr: string; restore(): void } {
  const captured = { stdout: "", stderr: "", restore: () => {} };
  const out = process.stdout.write.bind(process.stdout);
  const err = process.stderr.write.bind(process.stderr);
  process.stdout.write = ((chunk: string | Uint8Array) => ((captured.stdout += String(chunk)), true)) as typeof process.stdout.write;
  process.stderr.write = ((chunk: string | Uint8Array) => ((captured.stderr += String(chunk)), true)) as typeof process.stderr.write;
  captured.restore = () => {
    process.stdout.write = out;
    process.stderr.write = err;
  };
  return captured;
}

/** mulberry32: a tiny seeded PRNG, so the synthetic dataset is the same on every run. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * A synthetic dataset with the quirks of contract §2–§4: monthly files 2023-12..2025-01, window
 * edge times, `.0` and empty user ids, names with commas and quotes, same-name stores, a store
 * missing from stores, an item missing from menu_items, duplicate users, blank lines, reordered
 * and extra columns, and malformed rows of every kind.
 */
function generateDataset(dir: string, transactionsPerMonth: number, seed: number): void {
  const r = rng(seed);
  const pick = <T,>(xs: readonly T[]): T => xs[Math.floor(r() * xs.length)]!;
  const int = (lo: number, hi: number): number => lo + Math.floor(r() * (hi - lo + 1));
  const p2 = (n: number): string => String(n).padStart(2, "0");
  const money = (cents: number): string => {
    const s = `${Math.floor(cents / 100)}.${p2(cents % 100)}`;
    const variant = r();
    if (variant < 0.15 && cents % 100 === 0) return String(cents / 100);
    if (variant < 0.3 && cents % 10 === 0) return s.slice(0, -1);
    if (variant < 0.35) return `${s}0`;
    return s;
  };
  const edgeTimes = ["05:59:59", "06:00:00", "23:00:00", "23:00:01", "00:00:00", "23:59:59"];
  const stamp = (y: number, m: number): string => {
    const d = int(1, 28);
    const t = r() < 0.1 ? pick(edgeTimes) : `${p2(int(0, 23))}:${p2(int(0, 59))}:${p2(int(0, 59))}`;
    return `${y}-${p2(m)}-${p2(d)} ${t}`;
  };
  const write = (path: string, rows: string[]): void => {
    mkdirSync(dirname(join(dir, path)), { recursive: true });
    writeFileSync(join(dir, path), rows.map((row) => `${row}\n`).join(""));
  };
  for (const e of ENTITIES) mkdirSync(join(dir, e), { recursive: true });

  write("stores/stores.csv", [
    "store_id,store_name,street,postal_code,city,state,latitude,longitude",
    "1,G Coffee @ USJ 89q,Jalan Dewan Bahasa 5/9,50998,USJ 89q,Kuala Lumpur,3.117,101.675",
    '2,"G Coffee, Kondominium",Jalan Vivekananda,50000,Kondominium,Kuala Lumpur,3.118,101.676',
    '3,"Joe\'s ""Best"", Cafe",Jalan 3,50000,KL,KL,3.1,101.6',
    "4,G Coffee @ USJ 89q,Jalan 4,50000,KL,KL,3.1,101.6",
    "5,Zeta,Jalan 5,50000,KL,KL,3.1,101.6",
    "6,alpha,Jalan 6,50000,KL,KL,3.1,101.6",
  ]);
  const menu = [[1, "Espresso", 600], [2, "Americano", 700], [3, '"Flat" White, Large', 950], [4, "Latte", 1000],
    [5, "Cappuccino", 1000], [6, "Cake", 1250], [7, "Matcha", 1100], [8, "Tea", 500], [9, "Mystery", 800]] as const;
  write("menu_items/menu_items.csv", [
    "item_name,item_id,category,price,is_seasonal,available_from,available_to",
    ...menu.filter(([id]) => id !== 9).map(([id, name, cents]) =>
      `${/[,"]/.test(name) ? `"${name.replaceAll('"', '""')}"` : name},${id},coffee,${money(cents)},False,,`),
  ]);

  const userCount = Math.max(50, Math.floor(transactionsPerMonth / 4));
  const userRows = (from: number, to: number): string[] => {
    const rows = ["user_id,gender,birthdate,registered_at,extra"];
    for (let u = from; u <= to; u++) {
      const birth = r() < 0.03 ? "" : `${int(1940, 2006)}-${p2(int(1, 12))}-${p2(int(1, 28))}`;
      rows.push(`${r() < 0.1 ? `${u}.0` : u},${pick(["male", "female"])},${birth},2023-01-01 00:00:00,x`);
      if (r() < 0.05) rows.push(`${u},female,1960-02-29,2023-01-02 00:00:00,dup`);
      if (r() < 0.03) rows.push(pick([`u${u},male,1990-01-01,2023-01-01 00:00:00,x`, `${u},male,1990-02-30,2023-01-01 00:00:00,x`, `${u},male`]));
      if (r() < 0.002) rows.push("");
    }
    return rows;
  };
  const half = Math.floor(userCount / 2);
  write("users/users_a.csv", userRows(1, half));
  write("users/users_b.csv", userRows(half + 1, userCount));

  const regulars = Array.from({ length: 12 }, () => int(1, userCount));
  let txSeq = 0;
  for (let month = 0; month < 14; month++) {
    const y = month === 0 ? 2023 : month === 13 ? 2025 : 2024;
    const m = month === 0 ? 12 : month === 13 ? 1 : month;
    const tx = [TX_HEADER];
    const items = ["transaction_id,item_id,quantity,unit_price,subtotal,created_at"];
    for (let i = 0; i < transactionsPerMonth; i++) {
      const id = `${(txSeq++ * 2654435761 % 4294967296).toString(16).padStart(8, "0")}-${int(1000, 9999)}`;
      const store = r() < 0.05 ? 7 : int(1, 6);
      const u = r() < 0.2 ? "" : String(r() < 0.3 ? pick(regulars) : int(1, userCount + 5));
      const user = u !== "" && r() < 0.3 ? `${u}.0` : u;
      const when = stamp(y, m);
      let total = 0;
      const n = int(1, 3);
      for (let k = 0; k < n; k++) {
        const [item, , price] = pick(menu);
        const q = int(1, 5);
        total += q * price;
        const qty = r() < 0.05 ? `${q}.0` : String(q);
        items.push(`${id},${item},${qty},${money(price)},${money(q * price)},${when}`);
        if (r() < 0.004) items.push(pick([`${id},${item},x,1.0,1.0,${when}`, `${id},${item},1,1.0,1.0`, `${id},i${item},1,1.0,1.0,${when}`]));
      }
      const amount = r() < 0.1 ? Math.max(0, total - int(0, 500)) : total;
      tx.push(`${id},${store},${int(1, 4)},,${user},${money(total)},0.0,${money(amount)},${when}`);
      if (r() < 0.005) {
        tx.push(pick([
          `${id}b,${store},1,,${u},1.0,0.0,7x.5,${when}`,
          `${id}c,${store},1,,${u},1.0,0.0,1.0`,
          `${id}d,${store},1,,${u},1.0,0.0,80.0,${y}-13-01 10:00:00`,
          `${id}e,s${store},1,,${u},1.0,0.0,80.0,${when}`,
          `${id}f,${store},1,,${u},1.0,0.0,80.125,${when}`,
          `${id}g,${store},1,,${u},1.0,0.0,80.120,${when},extra`,
          "",
        ]));
      }
    }
    write(`transactions/transactions_${y}${p2(m)}.csv`, tx);
    write(`transaction_items/transaction_items_${y}${p2(m)}.csv`, items);
  }
}

describe("cross-check against the Python oracle", () => {
  test("computeReference and test/oracle/oracle.py agree byte for byte", async () => {
    const python = Bun.which("python3");
    if (!python) throw new Error("python3 is not on PATH: the oracle cross-check (test/oracle/oracle.py) needs it");
    const data = tempDir();
    generateDataset(data, 250, 20240601);
    const out = join(tempDir(), "oracle");
    const oracle = Bun.spawnSync([python, join(import.meta.dir, "..", "test", "oracle", "oracle.py"), data, out]);
    if (oracle.exitCode !== 0) throw new Error(`oracle.py failed (${oracle.exitCode}): ${oracle.stderr.toString()}`);

    const result = await computeReference(data, { batchRows: 700 });
    for (const q of QUERIES) {
      expect({ q, text: result.queries[q] }).toEqual({ q, text: readFileSync(join(out, queryFileName(q)), "utf8") });
    }
    expect(result.rejects.map((rej) => rejectLine(rej)).join("\n")).toBe(oracle.stdout.toString().trimEnd());
    // The dataset must actually exercise what it claims to.
    expect(result.rowsRejected).toBeGreaterThan(5);
    expect(result.queries.q1.split("\n").length).toBeGreaterThan(100);
    expect(result.queries.q2.split("\n").length).toBe(1 + 2 * 13 + 1);
    expect(result.queries.q3).toContain('"Joe\'s ""Best"", Cafe"');
    expect(result.queries.q4.split("\n").length).toBe(1 + 3 * 6 + 1);
  });
});

test("the reference's Q4 counts stop at 2^31 - 1 (the cluster's limit), dense or sparse ids, instead of wrapping", () => {
  const counts = new UserCounts();
  counts.add(5);
  counts.dense[5] = MAX_COUNT - 1;
  counts.add(5);
  expect(counts.top3()).toEqual([5]);
  expect(() => counts.add(5)).toThrow(SumOverflowError);
  // An id past the dense array's limit is counted in a Map, with the same bound.
  const sparse = 1 << 23;
  counts.sparse.set(sparse, MAX_COUNT);
  expect(() => counts.add(sparse)).toThrow(SumOverflowError);
});


test("a store's dense Q4 array is sized by the users it counts, not by its largest id, and counts stay exact as ids move into it", () => {
  const lone = new UserCounts();
  lone.add(4_000_000);
  lone.add(4_000_000);
  // Sized by the id, this one user took 16 MB; 100 such stores took 1.7 GB.
  expect(lone.dense.length).toBe(0);
  const few = new UserCounts();
  few.add(3);
  expect(few.dense.length).toBe(64);
  expect(lone.top3()).toEqual([4_000_000]);

  let seed = 11;
  const rnd = (n: number): number => (seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) % n;
  const counts = new UserCounts();
  const oracle = new Map<number, number>();
  const add = (user: number): void => {
    counts.add(user);
    oracle.set(user, (oracle.get(user) ?? 0) + 1);
  };
  // Far ids first (counted in the Map), then enough near ones that the array grows over them.
  for (let i = 0; i < 300; i++) add(20_000 + rnd(40_000));
  for (let i = 0; i < 20_000; i++) add(rnd(70_000));
  for (let i = 0; i < 50; i++) add((1 << 23) + rnd(10));
  expect(counts.dense.length).toBeGreaterThan(60_000);
  const seen = new Map<number, number>();
  counts.dense.forEach((c, u) => { if (c > 0) seen.set(u, c); });
  for (const [u, c] of counts.sparse) {
    expect(seen.has(u)).toBe(false);
    seen.set(u, c);
  }
  expect(seen).toEqual(oracle);
  const top = [...oracle].sort((a, b) => b[1] - a[1] || a[0] - b[0]).slice(0, 3).map(([u]) => u);
  expect(counts.top3()).toEqual(top);
});
