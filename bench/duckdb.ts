/**
 * The DuckDB floor: all four queries of contract §3 computed by DuckDB, in one process, straight
 * from the same CSV folders `coffee reference` and the client read. It is the figure the project
 * measures itself against (single process, by default 2 threads like the 2-core target machine).
 *
 *   bun bench/duckdb.ts --data DIR [--threads N] [--out DIR]
 *
 * Prints `duckdb: 4 queries on <rows> rows in <s> s (<threads> threads)`. With `--out`, also writes
 * query1.csv .. query4.csv in the contract's format, byte-identical to `coffee reference --out`
 * on well-formed data, so `cmp` checks DuckDB and the reference against each other.
 *
 * The timed span is the whole job: creating the DuckDB instance, reading every CSV (no table is
 * loaded beforehand), computing the four queries, formatting every number (done in SQL) and
 * joining the rows into CSV text. Only writing the files to --out is outside it.
 *
 * Malformed rows: every read_csv uses `ignore_errors=true`, so a row with the wrong field count or
 * a value its column type cannot hold is dropped instead of aborting the run, and rows with an
 * empty required field are filtered out, as coffee rejects them. This is close to coffee's
 * validation (src/fields.ts) but not identical, and nothing is counted or reported:
 *   - DuckDB rounds where coffee rejects: an id `1.5` becomes 2, an amount `12.255` becomes
 *     12.26 (coffee accepts only digits past the cent that are zero), `1e3` is a valid id;
 *   - DuckDB accepts timestamps coffee rejects (`2024-01-01T06:00:00`, fractional seconds,
 *     surrounding blanks) and dates like `2024-1-1` (printed back as `2024-01-01`);
 *   - coffee counts rejected rows per file and reports the first line numbers; here the rows
 *     just vanish, and <rows> is the number of rows accepted (coffee's count includes rejects).
 * Other small differences: folders are read with the glob `*.csv` (coffee also takes `.CSV`), and
 * names sort by UTF-8 bytes, which is code point order, as in coffee.
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { DuckDBInstance, type DuckDBConnection, type DuckDBValue } from "@duckdb/node-api";
import { benchArgs } from "./benchArgs.ts";

/** What one run measured and produced. */
export interface DuckdbRun {
  /** Wall time of the whole job (see the header comment for what it covers). */
  seconds: number;
  /** Data rows DuckDB accepted from the five entities (headers and dropped rows excluded). */
  rows: number;
  /** Result file name (`query1.csv` ..) → CSV text, header first, `\n` line ends. */
  results: Record<string, string>;
}

/** A string literal for SQL (paths may contain quotes). */
function sqlString(text: string): string {
  return `'${text.replaceAll("'", "''")}'`;
}

/**
 * read_csv over every `*.csv` of one entity folder. Only the needed columns get explicit types;
 * the others are left to the sniffer but never projected, and DuckDB only converts projected
 * columns, so an odd value in an ignored column cannot drop a row (coffee ignores them too).
 * union_by_name finds columns by header name in every file, as the contract requires, even when
 * files order their columns differently or carry extra ones. The dialect is fixed by the contract
 * (commas, RFC 4180 quotes doubled inside quotes); naming it spares the sniffer its dialect
 * search, which otherwise costs ~25 ms per file, i.e. seconds on the 72 files of the full set.
 */
function readCsv(dataDir: string, entity: string, types: Record<string, string>): string {
  const typeList = Object.entries(types).map(([name, type]) => `${sqlString(name)}: ${sqlString(type)}`).join(", ");
  return `read_csv(${sqlString(join(dataDir, entity, "*.csv"))}, header = true, union_by_name = true, ` +
    `delim = ',', quote = '"', escape = '"', ignore_errors = true, types = {${typeList}})`;
}

/**
 * The loading statements. Ids are INTEGER (DuckDB parses `140170.0` as 140170, and an empty
 * user_id becomes NULL = no user), money DECIMAL(18,2) so every sum is exact in cents, timestamps
 * TIMESTAMP taken as written (no time zone). Required fields that are empty come out NULL and are
 * filtered, matching coffee's rejects; only user_id and birthdate may be empty.
 */
function loadStatements(dataDir: string): string[] {
  const money = "DECIMAL(18,2)";
  return [
    // An id listed twice keeps its greater name or birthdate (src/queries/repeatedIds.ts); names
    // compare by code point, here as in coffee.
    `CREATE TEMP TABLE stores_raw AS SELECT store_id, coalesce(store_name, '') AS store_name
       FROM ${readCsv(dataDir, "stores", { store_id: "INTEGER", store_name: "VARCHAR" })} WHERE store_id IS NOT NULL`,
    `CREATE TEMP TABLE items_raw AS SELECT item_id, coalesce(item_name, '') AS item_name
       FROM ${readCsv(dataDir, "menu_items", { item_id: "INTEGER", item_name: "VARCHAR" })} WHERE item_id IS NOT NULL`,
    `CREATE TEMP TABLE users AS SELECT user_id, birthdate
       FROM ${readCsv(dataDir, "users", { user_id: "INTEGER", birthdate: "DATE" })} WHERE user_id IS NOT NULL`,
    `CREATE TEMP TABLE stores AS SELECT store_id, store_name FROM stores_raw
       QUALIFY row_number() OVER (PARTITION BY store_id ORDER BY store_name DESC) = 1`,
    `CREATE TEMP TABLE items AS SELECT item_id, item_name FROM items_raw
       QUALIFY row_number() OVER (PARTITION BY item_id ORDER BY item_name DESC) = 1`,
    // The big inputs need no order (every result is sorted explicitly), and dropping it lets
    // both threads load in parallel without reordering.
    "SET preserve_insertion_order = false",
    `CREATE TEMP TABLE tx AS
       SELECT transaction_id AS id, store_id AS store, user_id AS usr,
              CAST(final_amount * 100 AS BIGINT) AS cents, created_at AS ts
       FROM ${readCsv(dataDir, "transactions", {
         transaction_id: "VARCHAR", store_id: "INTEGER", user_id: "INTEGER", final_amount: money, created_at: "TIMESTAMP",
       })}
       WHERE transaction_id <> '' AND store_id IS NOT NULL AND final_amount IS NOT NULL AND created_at IS NOT NULL`,
    // Items are only ever summed per month and item, so they are aggregated while being read
    // instead of stored: 2.5 M rows a reduced-scale set become a few dozen. The count per group
    // keeps the number of rows read; other years are filtered only in Q2, after the sums.
    `CREATE TEMP TABLE item_sums AS
       SELECT year(created_at) * 100 + month(created_at) AS ym, item_id AS item, count(*) AS n,
              sum(quantity) AS qty, CAST(sum(subtotal) * 100 AS BIGINT) AS cents
       FROM ${readCsv(dataDir, "transaction_items", {
         item_id: "INTEGER", quantity: "BIGINT", subtotal: money, created_at: "TIMESTAMP",
       })}
       WHERE item_id IS NOT NULL AND quantity IS NOT NULL AND subtotal IS NOT NULL AND created_at IS NOT NULL
       GROUP BY ALL`,
    // Contract §3 money format: the shortest decimal with at least one fractional digit
    // (7500 → 75.0, 7750 → 77.5, 1225 → 12.25, 5 → 0.05), computed from exact integer cents.
    `CREATE TEMP MACRO money(c) AS
       (CASE WHEN c < 0 THEN '-' ELSE '' END) || CAST(abs(c) // 100 AS VARCHAR) || '.' ||
       (CASE WHEN abs(c) % 100 = 0 THEN '0'
             WHEN abs(c) % 10 = 0 THEN CAST(abs(c) % 100 // 10 AS VARCHAR)
             ELSE lpad(CAST(abs(c) % 100 AS VARCHAR), 2, '0') END)`,
    // Years 2024 and 2025, as a range on the raw timestamp so DuckDB can prune by min/max.
    "CREATE TEMP MACRO in_years(t) AS t >= TIMESTAMP '2024-01-01 00:00:00' AND t < TIMESTAMP '2026-01-01 00:00:00'",
    // The Q1/Q3 day window, both ends included.
    "CREATE TEMP MACRO in_window(t) AS CAST(t AS TIME) BETWEEN TIME '06:00:00' AND TIME '23:00:00'",
  ];
}

/** The four queries; every column is VARCHAR already formatted, every order explicit. */
const QUERY_SQL: Record<string, { header: string; sql: string }> = {
  "query1.csv": {
    header: "transaction_id,final_amount",
    // Ties on a (duplicated) id go by amount, as in the reference.
    sql: `SELECT id, money(cents) FROM tx
          WHERE in_years(ts) AND in_window(ts) AND cents >= 7500
          ORDER BY id, cents`,
  },
  "query2.csv": {
    header: "year_month_created_at,item_name,sellings_qty,profit_sum,metric_type",
    // Per month and item the two sums; per month the best item by each, ties to the smallest
    // item_id. Items missing from menu_items still compete, with an empty name.
    sql: `WITH sums AS (
            SELECT printf('%04d-%02d', ym // 100, ym % 100) AS ym, item, qty, cents
            FROM item_sums WHERE ym BETWEEN 202401 AND 202512),
          sold AS (
            SELECT ym, item, qty FROM sums
            QUALIFY row_number() OVER (PARTITION BY ym ORDER BY qty DESC, item) = 1),
          profit AS (
            SELECT ym, item, cents FROM sums
            QUALIFY row_number() OVER (PARTITION BY ym ORDER BY cents DESC, item) = 1)
          SELECT ym, name, qty, profit, metric FROM (
            SELECT p.ym, coalesce(i.item_name, '') AS name, '' AS qty, money(p.cents) AS profit,
                   'most_profitable' AS metric, 0 AS k
            FROM profit p LEFT JOIN items i ON i.item_id = p.item
            UNION ALL
            SELECT s.ym, coalesce(i.item_name, ''), CAST(s.qty AS VARCHAR), '', 'most_sold', 1
            FROM sold s LEFT JOIN items i ON i.item_id = s.item)
          ORDER BY ym, k`,
  },
  "query3.csv": {
    header: "year_half_created_at,store_name,tpv",
    // Inner join: transactions of stores missing from stores are left out.
    sql: `SELECT CAST(year(t.ts) AS VARCHAR) || '-H' || (CASE WHEN month(t.ts) <= 6 THEN '1' ELSE '2' END) AS half,
                 s.store_name, money(sum(t.cents))
          FROM tx t JOIN stores s ON s.store_id = t.store
          WHERE in_years(t.ts) AND in_window(t.ts)
          GROUP BY half, s.store_id, s.store_name
          ORDER BY half, s.store_name, s.store_id`,
  },
  "query4.csv": {
    header: "store_name,birthdate",
    // Users are ranked per store by transaction count, ties to the smallest user_id; only the
    // winners are looked up in users (the later birthdate of an id listed twice, any over an
    // empty one), a missing one prints empty.
    sql: `WITH counts AS (
            SELECT store, usr, count(*) AS n FROM tx
            WHERE usr IS NOT NULL AND in_years(ts) GROUP BY ALL),
          top AS (
            SELECT store, usr, row_number() OVER (PARTITION BY store ORDER BY n DESC, usr) AS rank
            FROM counts QUALIFY rank <= 3),
          births AS (
            SELECT user_id, birthdate FROM users WHERE user_id IN (SELECT usr FROM top)
            QUALIFY row_number() OVER (PARTITION BY user_id ORDER BY birthdate DESC NULLS LAST) = 1)
          SELECT s.store_name, coalesce(CAST(b.birthdate AS VARCHAR), '')
          FROM top JOIN stores s ON s.store_id = top.store
          LEFT JOIN births b ON b.user_id = top.usr
          ORDER BY s.store_name, s.store_id, top.rank`,
  },
};

const NEEDS_QUOTES = /[",\r\n]/;

/** One CSV field as the contract writes it: quoted (RFC 4180) only when needed. */
function csvField(value: DuckDBValue): string {
  if (value === null) return "";
  if (typeof value !== "string") throw new Error(`expected a VARCHAR result, got ${typeof value}`);
  return NEEDS_QUOTES.test(value) ? `"${value.replaceAll('"', '""')}"` : value;
}

/** One number computed over a loaded table (`expr` is an aggregate such as count(*)). */
async function scalarCount(c: DuckDBConnection, table: string, expr: string): Promise<number> {
  const row = (await c.runAndReadAll(`SELECT coalesce(${expr}, 0) FROM ${table}`)).getRows()[0];
  return Number(row?.[0] ?? 0);
}

/** Compute the four reports of `dataDir` with DuckDB on `threads` threads, and time it. */
export async function runDuckdb(dataDir: string, threads: number): Promise<DuckdbRun> {
  const started = performance.now();
  const db = await DuckDBInstance.create(":memory:", { threads: String(threads) });
  const c = await db.connect();
  try {
    for (const sql of loadStatements(dataDir)) await c.run(sql);
    let rows = 0;
    for (const table of ["stores_raw", "items_raw", "users", "tx"]) rows += await scalarCount(c, table, "count(*)");
    rows += await scalarCount(c, "item_sums", "sum(n)");
    const results: Record<string, string> = {};
    for (const [file, q] of Object.entries(QUERY_SQL)) {
      const lines = [q.header];
      for (const row of (await c.runAndReadAll(q.sql)).getRows()) lines.push(row.map(csvField).join(","));
      results[file] = lines.join("\n") + "\n";
    }
    return { seconds: (performance.now() - started) / 1000, rows, results };
  } finally {
    c.closeSync();
    db.closeSync();
  }
}

if (import.meta.main) {
  const values = benchArgs(import.meta.path, {
    data: { type: "string" },
    threads: { type: "string", default: "2" },
    out: { type: "string" },
  });
  const threads = Number(values.threads);
  if (!values.data || !Number.isInteger(threads) || threads < 1) {
    process.stderr.write("usage: bun bench/duckdb.ts --data DIR [--threads N (default 2)] [--out DIR]\n");
    process.exit(2);
  }
  let run: DuckdbRun;
  try {
    run = await runDuckdb(values.data, threads);
  } catch (err) {
    // DuckDB's own message names the problem (no files for a glob, a missing column, ...).
    process.stderr.write(`duckdb: ${err instanceof Error ? err.message.split("\n")[0] : String(err)}\n`);
    process.exit(1);
  }
  if (values.out) {
    mkdirSync(values.out, { recursive: true });
    for (const [file, text] of Object.entries(run.results)) writeFileSync(join(values.out, file), text);
  }
  process.stdout.write(`duckdb: 4 queries on ${run.rows} rows in ${run.seconds.toFixed(2)} s (${threads} threads)` +
    `${values.out ? ` -> ${values.out}` : ""}\n`);
}
