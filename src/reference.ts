/**
 * `coffee reference`: the four queries of README "Query semantics" computed in one process straight from a
 * dataset folder. It is the oracle of the tests and the single-process baseline of benchmarks.
 * Every file is streamed in batches through the same reader and validator as the client
 * (csvSource, entityBatch), so both skip exactly the same malformed rows.
 */
import { readEntityFile } from "./csvSource.ts";
import { validateDataset } from "./datasetCheck.ts";
import { parseEntityRows, type EntityBodies } from "./entityBatch.ts";
import { addCount, addExact } from "./exactSum.ts";
import { csvLine, formatCents, formatDate } from "./format.ts";
import { RejectReport, type FileRejects } from "./rejectReport.ts";
import { fieldReader } from "./textColumn.ts";
import { ENTITIES, type Entity, type QueryName } from "./schema.ts";
import { keepGreater } from "./queries/repeatedIds.ts";
import { compareCodePoints } from "./textOrder.ts";
import { sortedOrder } from "./sortedRuns.ts";

/** Tuning of computeReference. */
export interface ReferenceOptions {
  /** Rows per parsed batch (default 5000). */
  batchRows?: number;
  /** How many of the smallest rejected line numbers to keep per file and reason (default: as many as the client keeps). */
  maxRejectLines?: number;
  /** Told after every batch read, for a progress display. */
  onProgress?: (progress: ReferenceProgress) => void;
}

/** How far a reference run has read. */
export interface ReferenceProgress {
  entity: Entity;
  /** Files read to the end, of `filesTotal` across every entity. */
  filesDone: number;
  filesTotal: number;
  rowsRead: number;
}

/** The four result files as CSV text (header + rows, `\n` line ends) and the reject report. */
export interface ReferenceResult {
  queries: Record<QueryName, string>;
  /** Only files with at least one rejected row, in reading order. */
  rejects: FileRejects[];
  /** Data rows read (header excluded), rejected ones included. */
  rowsRead: number;
  rowsRejected: number;
  /** An entity folder without a CSV file, each said as the client says it (src/datasetCheck.ts). */
  notes: string[];
  /** Files skipped for being empty (no header), as the client skips them. */
  emptyFiles: string[];
}

const WINDOW_START = 6 * 3600;
const WINDOW_END = 23 * 3600;
const MIN_Q1_CENTS = 7500;
/** User ids below this may be counted in a dense array per store; larger ones always in a Map. */
const DENSE_USER_LIMIT = 1 << 22;
/**
 * A store's dense array grows to hold an id only while it stays within this many slots per user
 * counted (plus DENSE_MIN_SLOTS): 4 bytes a slot against a Map entry's ~50, so a dense array
 * that is a sixteenth full costs about what the Map would. Sized by the largest id alone, 100
 * stores with one user of id 4 000 000 each took 1.7 GB.
 */
const DENSE_SLOTS_PER_USER = 16;
/** Slots a dense array may have whatever its users: a store starts with none (200 000 stores of one user each took 877 MB at 1024). */
const DENSE_MIN_SLOTS = 64;

const inYears = (date: number): boolean => date >= 2024_00_00 && date < 2026_00_00;

/**
 * Per-store transaction counts by user id: a growable dense array for ids it covers, a Map for
 * the others (ids past DENSE_USER_LIMIT, or too far past the users counted so far); SumOverflowError
 * past MAX_COUNT. An id is in one of the two, never both: growing the array moves the Map's ids it
 * now covers into it.
 */
export class UserCounts {
  dense = new Uint32Array(0);
  sparse = new Map<number, number>();
  /** Distinct users counted, dense and sparse. */
  private users = 0;

  add(user: number): void {
    if (user >= this.dense.length && !this.growFor(user)) {
      const had = this.sparse.get(user);
      if (had === undefined) this.users++;
      this.sparse.set(user, addCount(had ?? 0, 1));
      return;
    }
    const had = this.dense[user]!;
    if (had === 0) this.users++;
    this.dense[user] = addCount(had, 1);
  }

  /** Grow the dense array to cover `user` if that is worth its memory; whether it now does. */
  private growFor(user: number): boolean {
    if (user >= DENSE_USER_LIMIT) return false;
    let size = Math.max(DENSE_MIN_SLOTS, this.dense.length * 2);
    while (size <= user) size *= 2;
    size = Math.min(size, DENSE_USER_LIMIT);
    if (size > DENSE_MIN_SLOTS + DENSE_SLOTS_PER_USER * (this.users + 1)) return false;
    const grown = new Uint32Array(size);
    grown.set(this.dense);
    for (const [u, c] of this.sparse) {
      if (u < size) {
        grown[u] = c;
        this.sparse.delete(u);
      }
    }
    this.dense = grown;
    return true;
  }

  /** The three users with most transactions; ties go to the smallest user id. */
  top3(): number[] {
    const best: { user: number; count: number }[] = [];
    const offer = (user: number, count: number): void => {
      let i = best.length;
      while (i > 0) {
        const b = best[i - 1]!;
        if (b.count > count || (b.count === count && b.user < user)) break;
        i--;
      }
      if (i < 3) {
        best.splice(i, 0, { user, count });
        if (best.length > 3) best.pop();
      }
    };
    const d = this.dense;
    for (let u = 0; u < d.length; u++) if (d[u]! > 0) offer(u, d[u]!);
    for (const [u, c] of this.sparse) offer(u, c);
    return best.map((b) => b.user);
  }
}

/** Accumulators of all four queries, filled entity by entity. */
class Accumulators {
  storeNames = new Map<number, string>();
  itemNames = new Map<number, string>();
  q1Ids: string[] = [];
  q1Cents: number[] = [];
  /** Q2: yyyymm → item → [sum quantity, sum subtotal cents]. */
  q2 = new Map<number, Map<number, [number, number]>>();
  /** Q3: store * 8 + half index (0 = 2024-H1 .. 3 = 2025-H2) → TPV cents. */
  q3 = new Map<number, number>();
  q4 = new Map<number, UserCounts>();
  /** user → birthdate yyyymmdd (0 = empty). */
  births = new Map<number, number>();

  transactions(b: EntityBodies["transactions"]): void {
    const id = fieldReader(b.id);
    for (let r = 0; r < b.store.length; r++) {
      const date = b.date[r]!;
      if (!inYears(date)) continue;
      const store = b.store[r]!;
      const user = b.user[r]!;
      if (user >= 0) {
        let counts = this.q4.get(store);
        if (!counts) this.q4.set(store, (counts = new UserCounts()));
        counts.add(user);
      }
      const time = b.time[r]!;
      if (time < WINDOW_START || time > WINDOW_END) continue;
      const cents = b.cents[r]!;
      const half = (Math.floor(date / 10000) - 2024) * 2 + (date % 10000 > 630 ? 1 : 0);
      const key = store * 8 + half;
      this.q3.set(key, addExact(this.q3.get(key) ?? 0, cents, "final_amount"));
      if (cents >= MIN_Q1_CENTS) {
        this.q1Ids.push(id(r));
        this.q1Cents.push(cents);
      }
    }
  }

  items(b: EntityBodies["transaction_items"]): void {
    for (let r = 0; r < b.item.length; r++) {
      const date = b.date[r]!;
      if (!inYears(date)) continue;
      const month = Math.floor(date / 100);
      let perItem = this.q2.get(month);
      if (!perItem) this.q2.set(month, (perItem = new Map()));
      const item = b.item[r]!;
      const sums = perItem.get(item);
      if (sums) {
        sums[0] = addExact(sums[0], b.qty[r]!, "quantity");
        sums[1] = addExact(sums[1], b.cents[r]!, "subtotal");
      } else perItem.set(item, [b.qty[r]!, b.cents[r]!]);
    }
  }

  names(target: Map<number, string>, b: EntityBodies["stores"]): void {
    for (let r = 0; r < b.id.length; r++) keepGreater(target, b.id[r]!, b.name[r]!);
  }

  users(b: EntityBodies["users"], wanted: ReadonlySet<number>): void {
    for (let r = 0; r < b.user.length; r++) if (wanted.has(b.user[r]!)) keepGreater(this.births, b.user[r]!, b.birth[r]!);
  }
}

/** Store ids present in stores, sorted by store name (code points), then store id. */
function storesByName(names: ReadonlyMap<number, string>): number[] {
  return [...names.keys()].sort((a, b) => {
    return compareCodePoints(names.get(a)!, names.get(b)!) || a - b;
  });
}

function q1Text(acc: Accumulators): string {
  const ids = acc.q1Ids;
  const cents = acc.q1Cents;
  // The order Q1's aggregator writes its sorted runs in: (id by code points, then cents).
  const out = ["transaction_id,final_amount\n"];
  for (const i of sortedOrder(ids, cents)) out.push(csvLine([ids[i]!, formatCents(cents[i]!)]));
  return out.join("");
}

function q2Text(acc: Accumulators): string {
  let out = "year_month_created_at,item_name,sellings_qty,profit_sum,metric_type\n";
  for (const month of [...acc.q2.keys()].sort((a, b) => a - b)) {
    const label = `${Math.floor(month / 100)}-${String(month % 100).padStart(2, "0")}`;
    let sold: [number, number] | null = null;
    let profit: [number, number] | null = null;
    for (const [item, [qty, cents]] of acc.q2.get(month)!) {
      if (!sold || qty > sold[1] || (qty === sold[1] && item < sold[0])) sold = [item, qty];
      if (!profit || cents > profit[1] || (cents === profit[1] && item < profit[0])) profit = [item, cents];
    }
    if (!sold || !profit) continue;
    out += csvLine([label, acc.itemNames.get(profit[0]) ?? "", "", formatCents(profit[1]), "most_profitable"]);
    out += csvLine([label, acc.itemNames.get(sold[0]) ?? "", String(sold[1]), "", "most_sold"]);
  }
  return out;
}

function q3Text(acc: Accumulators): string {
  let out = "year_half_created_at,store_name,tpv\n";
  const rank = new Map(storesByName(acc.storeNames).map((s, i) => [s, i]));
  const keys = [...acc.q3.keys()].filter((k) => rank.has(Math.floor(k / 8)));
  keys.sort((a, b) => (a % 8) - (b % 8) || rank.get(Math.floor(a / 8))! - rank.get(Math.floor(b / 8))!);
  for (const key of keys) {
    const half = key % 8;
    const label = `${2024 + (half >> 1)}-H${(half & 1) + 1}`;
    out += csvLine([label, acc.storeNames.get(Math.floor(key / 8))!, formatCents(acc.q3.get(key)!)]);
  }
  return out;
}

/** Top-3 user ids of every store present in stores, in output order. */
function q4Winners(acc: Accumulators): [number, number[]][] {
  return storesByName(acc.storeNames).map((store) => [store, acc.q4.get(store)?.top3() ?? []]);
}

function q4Text(acc: Accumulators, winners: readonly [number, number[]][]): string {
  let out = "store_name,birthdate\n";
  for (const [store, users] of winners) {
    for (const user of users) out += csvLine([acc.storeNames.get(store)!, formatDate(acc.births.get(user) ?? 0)]);
  }
  return out;
}

/**
 * Compute the four queries (README "Query semantics") from `dataDir`, streaming every file once. Rows with
 * the wrong field count or an unparsable field are skipped and reported per file.
 * Throws DatasetError when an entity folder or a needed column is missing, SumOverflowError when
 * a Q2 or Q3 total leaves the range summed exactly or a Q4 count passes its limit (src/exactSum.ts).
 */
export async function computeReference(dataDir: string, opts: ReferenceOptions = {}): Promise<ReferenceResult> {
  const batchRows = opts.batchRows ?? 5000;
  const acc = new Accumulators();
  const report = new RejectReport(opts.maxRejectLines);
  let rowsRead = 0;
  let filesDone = 0;
  // Listed and checked once, up front, as the client does (headers, empty files, folders without
  // a CSV file); the progress needs the total before the first file is read.
  const emptyFiles: string[] = [];
  const notes: string[] = [];
  const files = validateDataset(dataDir, ENTITIES, emptyFiles, notes);
  const filesTotal = [...files.values()].reduce((n, f) => n + f.length, 0);

  async function scan<E extends Entity>(entity: E, onBody: (body: EntityBodies[E]) => void): Promise<void> {
    for (const { path: file, label: name } of files.get(entity)!) {
      let shapeRejects = 0;
      const onShapeReject = (line: number, reason: string): void => {
        shapeRejects++;
        report.add(name, line, reason);
      };
      for await (const batch of readEntityFile(file, entity, onShapeReject, { batchRows })) {
        const parsed = parseEntityRows(entity, batch.columns, batch.lines.length);
        parsed.rejected.forEach((idx, i) => report.add(name, batch.lines[idx]!, parsed.reasons[i]));
        rowsRead += batch.lines.length;
        onBody(parsed.body);
        opts.onProgress?.({ entity, filesDone, filesTotal, rowsRead });
      }
      rowsRead += shapeRejects;
      filesDone++;
      opts.onProgress?.({ entity, filesDone, filesTotal, rowsRead });
    }
  }
  await scan("stores", (b) => acc.names(acc.storeNames, b));
  await scan("menu_items", (b) => acc.names(acc.itemNames, b));
  await scan("transactions", (b) => acc.transactions(b));
  await scan("transaction_items", (b) => acc.items(b));
  const winners = q4Winners(acc);
  const wanted = new Set(winners.flatMap(([, users]) => users));
  await scan("users", (b) => acc.users(b, wanted));

  return {
    queries: { q1: q1Text(acc), q2: q2Text(acc), q3: q3Text(acc), q4: q4Text(acc, winners) },
    rejects: report.files(),
    rowsRead,
    rowsRejected: report.total,
    notes,
    emptyFiles,
  };
}
