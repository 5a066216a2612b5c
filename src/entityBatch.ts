/**
 * Typed, columnar batch bodies: what the gateway makes of a client's text rows, and what every
 * stage downstream passes on. Columns are typed arrays so msgpackr encodes them as raw bytes.
 */
import { FRESH_COLUMNS, type ColumnAllocator } from "./bodyArena.ts";
import { rowFault } from "./rowFault.ts";
import { InternalError } from "./errors.ts";
import { MAX_FIELD_BYTES, type Entity } from "./schema.ts";
import { PACKED_DATE, parseCentsAt, parseCountAt, parseDateAt, parseIdAt, parseOptionalIdAt, parseTimestampAt } from "./fields.ts";
import { asBinary, fieldStart, markUncleanText, rowsWithLongFields, selectFields, unpackColumn, type TextColumn } from "./textColumn.ts";

/**
 * transactions, projected: id (packed UTF-8, Q1 prints it and nothing else reads it), store,
 * user (-1 = none), amount in cents, date yyyymmdd, seconds of day.
 */
export interface TransactionsBody {
  id: TextColumn;
  store: Int32Array;
  user: Int32Array;
  cents: Float64Array;
  date: Int32Array;
  time: Int32Array;
}

/** transaction_items, projected. */
export interface ItemsBody {
  item: Int32Array;
  qty: Float64Array;
  cents: Float64Array;
  date: Int32Array;
}

/** users, projected: birthdate as yyyymmdd, 0 when empty (a valid one prints back as written). */
export interface UsersBody {
  user: Int32Array;
  birth: Int32Array;
}

/** stores or menu_items, projected: numeric id and display name. */
export interface NamesBody {
  id: Int32Array;
  name: string[];
}

/** The typed body of each entity. */
export interface EntityBodies {
  transactions: TransactionsBody;
  transaction_items: ItemsBody;
  users: UsersBody;
  stores: NamesBody;
  menu_items: NamesBody;
}

/** Result of validating one batch of text rows: the good rows typed, the bad rows' indexes. */
export interface ParsedRows<B> {
  body: B;
  rejected: number[];
}

/** ParsedRows with why each rejected row was (`reasons[i]` for `rejected[i]`). */
export interface CheckedRows<B> extends ParsedRows<B> {
  reasons: string[];
}

type Columns = readonly TextColumn[];

function col(columns: Columns, i: number): TextColumn {
  const c = columns[i];
  if (!c) throw new InternalError(`column ${i} missing`);
  return c;
}

function parseTransactions(columns: Columns, n: number, alloc: ColumnAllocator, tooLong: Uint8Array | null): ParsedRows<TransactionsBody> {
  const [ids, stores, users, amounts, times] = [0, 1, 2, 3, 4].map((i) => col(columns, i)) as [TextColumn, TextColumn, TextColumn, TextColumn, TextColumn];
  const body: TransactionsBody = {
    id: asBinary(ids), store: alloc.int32(n), user: alloc.int32(n), cents: alloc.float64(n),
    date: alloc.int32(n), time: alloc.int32(n),
  };
  const rejected: number[] = [];
  let k = 0;
  for (let r = 0; r < n; r++) {
    const idFrom = fieldStart(ids, r);
    const idTo = ids.ends[r]!;
    const store = parseIdAt(stores.bytes, fieldStart(stores, r), stores.ends[r]!);
    const user = parseOptionalIdAt(users.bytes, fieldStart(users, r), users.ends[r]!);
    const cents = parseCentsAt(amounts.bytes, fieldStart(amounts, r), amounts.ends[r]!);
    const ts = parseTimestampAt(times.bytes, fieldStart(times, r), times.ends[r]!);
    if (tooLong?.[r] || idFrom === idTo || Number.isNaN(store) || Number.isNaN(user) || Number.isNaN(cents) || Number.isNaN(ts)) {
      rejected.push(r);
      continue;
    }
    body.store[k] = store;
    body.user[k] = user;
    body.cents[k] = cents;
    body.date[k] = Math.floor(ts / PACKED_DATE);
    body.time[k] = ts % PACKED_DATE;
    k++;
  }
  // Without rejects the batch's own id column goes on as it is; the body is encoded at once.
  if (rejected.length > 0) body.id = selectFields(ids, keptRows(n, rejected));
  return { body: shrink(body, k), rejected };
}

function parseItems(columns: Columns, n: number, alloc: ColumnAllocator, tooLong: Uint8Array | null): ParsedRows<ItemsBody> {
  const [items, qtys, subtotals, times] = [0, 1, 2, 3].map((i) => col(columns, i)) as [TextColumn, TextColumn, TextColumn, TextColumn];
  const body: ItemsBody = {
    item: alloc.int32(n), qty: alloc.float64(n), cents: alloc.float64(n), date: alloc.int32(n),
  };
  const rejected: number[] = [];
  let k = 0;
  for (let r = 0; r < n; r++) {
    const item = parseIdAt(items.bytes, fieldStart(items, r), items.ends[r]!);
    const qty = parseCountAt(qtys.bytes, fieldStart(qtys, r), qtys.ends[r]!);
    const cents = parseCentsAt(subtotals.bytes, fieldStart(subtotals, r), subtotals.ends[r]!);
    const ts = parseTimestampAt(times.bytes, fieldStart(times, r), times.ends[r]!);
    if (tooLong?.[r] || Number.isNaN(item) || Number.isNaN(qty) || Number.isNaN(cents) || Number.isNaN(ts)) {
      rejected.push(r);
      continue;
    }
    body.item[k] = item;
    body.qty[k] = qty;
    body.cents[k] = cents;
    body.date[k] = Math.floor(ts / PACKED_DATE);
    k++;
  }
  return { body: shrink(body, k), rejected };
}

function parseUsers(columns: Columns, n: number, alloc: ColumnAllocator, tooLong: Uint8Array | null): ParsedRows<UsersBody> {
  const users = col(columns, 0);
  const births = col(columns, 1);
  const body: UsersBody = { user: alloc.int32(n), birth: alloc.int32(n) };
  const rejected: number[] = [];
  let k = 0;
  for (let r = 0; r < n; r++) {
    const user = parseIdAt(users.bytes, fieldStart(users, r), users.ends[r]!);
    const from = fieldStart(births, r);
    const to = births.ends[r]!;
    // An empty birthdate is data (unknown), not a malformed row; a non-date is malformed.
    const birth = from === to ? 0 : parseDateAt(births.bytes, from, to);
    if (tooLong?.[r] || Number.isNaN(user) || Number.isNaN(birth)) {
      rejected.push(r);
      continue;
    }
    body.user[k] = user;
    body.birth[k] = birth;
    k++;
  }
  return { body: shrink(body, k), rejected };
}

function parseNames(columns: Columns, n: number, alloc: ColumnAllocator, tooLong: Uint8Array | null): ParsedRows<NamesBody> {
  const ids = col(columns, 0);
  const names = col(columns, 1);
  const body: NamesBody = { id: alloc.int32(n), name: [] };
  const rejected: number[] = [];
  let k = 0;
  for (let r = 0; r < n; r++) {
    const id = parseIdAt(ids.bytes, fieldStart(ids, r), ids.ends[r]!);
    if (tooLong?.[r] || Number.isNaN(id)) {
      rejected.push(r);
      continue;
    }
    body.id[k] = id;
    k++;
  }
  body.name = unpackColumn(rejected.length > 0 ? selectFields(names, keptRows(n, rejected)) : names);
  return { body: shrink(body, k), rejected };
}

/**
 * Cut every typed-array column of a body down to its first `k` rows: a view, so the body holds
 * as much memory as before (rejects are rare), and an arena's columns stay in the arena.
 */
function shrink<B extends object>(body: B, k: number): B {
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(body)) {
    const cut = ArrayBuffer.isView(value) && (value as Int32Array).length !== k;
    out[key] = cut ? (value as Int32Array).subarray(0, k) : value;
  }
  return out as B;
}

/** Indexes 0..n-1 except the (ascending) rejected ones. */
function keptRows(n: number, rejected: readonly number[]): Uint32Array {
  const kept = new Uint32Array(n - rejected.length);
  let k = 0;
  let j = 0;
  for (let r = 0; r < n; r++) {
    if (j < rejected.length && rejected[j] === r) j++;
    else kept[k++] = r;
  }
  return kept;
}

/**
 * Validate and type one batch of an entity's packed text columns (in ENTITY_COLUMNS order). Rows with
 * an unparsable field, a field longer than `maxFieldBytes` (UTF-8), or a text field that is not
 * UTF-8 (as the client's reader rejects), are left out and their
 * indexes returned with the reason for each, so the caller can report them. A transactions body may share its id column
 * with `columns` (no copy when no row is rejected). Typed columns come from `alloc`: an arena's
 * when the body dies before the arena's next reset.
 */
export function parseEntityRows<E extends Entity>(entity: E, columns: Columns, rowCount: number, alloc: ColumnAllocator = FRESH_COLUMNS, maxFieldBytes = MAX_FIELD_BYTES): CheckedRows<EntityBodies[E]> {
  const parsed = parseTyped(entity, columns, rowCount, alloc, maxFieldBytes);
  // Rejects are rare: each is checked again, field by field, to say which field failed and how.
  const reasons = parsed.rejected.map((r) => rowFault(entity, columns, r, maxFieldBytes) ?? UNEXPLAINED);
  return { ...parsed, reasons };
}

/** The column of each entity that stays text (not parsed into a number), whose bytes must be clean UTF-8. */
const TEXT_COLUMN: Readonly<Record<Entity, number | null>> = { transactions: 0, transaction_items: null, users: null, stores: 1, menu_items: 1 };

/** A rejected row rowFault finds nothing wrong with: a check here that src/rowFault.ts lacks. */
const UNEXPLAINED = "a field that failed validation";

function parseTyped<E extends Entity>(entity: E, columns: Columns, rowCount: number, alloc: ColumnAllocator, maxFieldBytes: number): ParsedRows<EntityBodies[E]> {
  // Rows to reject whatever their values: a field too long, or text the client's reader would not keep.
  let tooLong = rowsWithLongFields(columns, rowCount, maxFieldBytes);
  const text = TEXT_COLUMN[entity];
  if (text !== null) tooLong = markUncleanText(col(columns, text), rowCount, tooLong);
  switch (entity) {
    case "transactions": return parseTransactions(columns, rowCount, alloc, tooLong) as ParsedRows<EntityBodies[E]>;
    case "transaction_items": return parseItems(columns, rowCount, alloc, tooLong) as ParsedRows<EntityBodies[E]>;
    case "users": return parseUsers(columns, rowCount, alloc, tooLong) as ParsedRows<EntityBodies[E]>;
    case "stores": return parseNames(columns, rowCount, alloc, tooLong) as ParsedRows<EntityBodies[E]>;
    case "menu_items": return parseNames(columns, rowCount, alloc, tooLong) as ParsedRows<EntityBodies[E]>;
    default: throw new InternalError(`unknown entity ${String(entity)}`);
  }
}
