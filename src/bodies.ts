/**
 * Every body kind that travels in a DataMessage, with a column schema used to validate decoded
 * bodies: right column types, equal lengths.
 */
import type { ItemsBody, NamesBody, TransactionsBody, UsersBody } from "./entityBatch.ts";
import { columnProblem, type TextColumn } from "./textColumn.ts";

/** Q2 partial: per (month yyyymm, item) sums of quantity and subtotal cents. */
export interface Q2Partial {
  month: Int32Array;
  item: Int32Array;
  qty: Float64Array;
  cents: Float64Array;
}

/** Q3 partial: per (half = year*10 + 1|2, store) sum of final_amount cents. */
export interface Q3Partial {
  half: Int32Array;
  store: Int32Array;
  cents: Float64Array;
}

/** Q4 partial: per (store, user) transaction count. */
export interface Q4Partial {
  store: Int32Array;
  user: Int32Array;
  count: Float64Array;
}

/** Map from body kind to its TypeScript shape. */
export interface BodyKinds {
  transactions: TransactionsBody;
  transaction_items: ItemsBody;
  users: UsersBody;
  stores: NamesBody;
  menu_items: NamesBody;
  "q2-partial": Q2Partial;
  "q3-partial": Q3Partial;
  "q4-partial": Q4Partial;
}

/** Name of a body kind. */
export type BodyKind = keyof BodyKinds;
/** The body type of a kind. */
export type BodyOf<K extends BodyKind> = BodyKinds[K];

/** i32/f64: typed arrays; text: a packed UTF-8 column (src/textColumn.ts); str: an array of strings. */
type ColumnType = "i32" | "f64" | "text" | "str";

/** Column names and types of each body kind. */
export const BODY_SCHEMAS: Readonly<Record<BodyKind, Readonly<Record<string, ColumnType>>>> = {
  transactions: { id: "text", store: "i32", user: "i32", cents: "f64", date: "i32", time: "i32" },
  transaction_items: { item: "i32", qty: "f64", cents: "f64", date: "i32" },
  users: { user: "i32", birth: "i32" },
  stores: { id: "i32", name: "str" },
  menu_items: { id: "i32", name: "str" },
  "q2-partial": { month: "i32", item: "i32", qty: "f64", cents: "f64" },
  "q3-partial": { half: "i32", store: "i32", cents: "f64" },
  "q4-partial": { store: "i32", user: "i32", count: "f64" },
};

/** Type guard for body kind names from the wire. */
export function isBodyKind(v: unknown): v is BodyKind {
  return typeof v === "string" && Object.hasOwn(BODY_SCHEMAS, v);
}

/** Check a decoded value against a schema; returns why it does not fit, or null when it does. */
export function validateBody(schema: Readonly<Record<string, ColumnType>>, body: unknown): string | null {
  if (typeof body !== "object" || body === null || Array.isArray(body)) return "not an object";
  const record = body as Record<string, unknown>;
  let rows = -1;
  for (const [name, type] of Object.entries(schema)) {
    const column = record[name];
    if (type === "text") {
      // The first column sets the row count: a text column first is checked against its own.
      const ends = (column as Partial<TextColumn> | null | undefined)?.ends;
      const why = columnProblem(column, rows >= 0 ? rows : ends instanceof Uint32Array ? ends.length : -1);
      if (why) return `column ${name}: ${why}`;
      rows = (column as TextColumn).ends.length;
      continue;
    }
    const ok =
      type === "i32" ? column instanceof Int32Array :
      type === "f64" ? column instanceof Float64Array :
      Array.isArray(column) && column.every((v) => typeof v === "string");
    if (!ok) return `column ${name} is not ${type}`;
    const length = (column as { length: number }).length;
    if (rows >= 0 && length !== rows) return `column ${name} has ${length} rows, expected ${rows}`;
    rows = length;
  }
  if (Object.keys(record).length !== Object.keys(schema).length) return "unexpected columns";
  return null;
}

/** Rows in a body: the length of its first column (every column has as many, see validateBody). */
export function bodyRows(kind: BodyKind, body: BodyOf<BodyKind>): number {
  const first = Object.keys(BODY_SCHEMAS[kind])[0];
  const column = first === undefined ? undefined : (body as unknown as Record<string, { length?: number; ends?: Uint32Array } | undefined>)[first];
  return column?.ends?.length ?? column?.length ?? 0;
}
