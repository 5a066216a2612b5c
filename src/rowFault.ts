/**
 * Why a row was rejected, in words a user can act on: the first of its fields that fails the
 * check the gateway (and `coffee reference`) applies to it. Only rejected rows are looked at, so
 * this runs off the hot path and may re-check fields one by one.
 */
import { MAX_CENTS, MAX_DIGITS, MAX_ID, parseCentsAt, parseCountAt, parseDateAt, parseIdAt, parseOptionalIdAt, parseTimestampAt } from "./fields.ts";
import { formatCents } from "./format.ts";
import { ENTITY_COLUMNS, type Entity } from "./schema.ts";
import { fieldStart, isCleanText, type TextColumn } from "./textColumn.ts";

/** The check one projected column gets: NaN from `parse` means the field is malformed. */
interface ColumnCheck {
  parse: (bytes: Uint8Array, from: number, to: number) => number;
  /** What the field should have been, after "is not". */
  expected: string;
  /** The reason in other words than "<column> is not <expected>". */
  fault?: (column: string) => string;
}

// Each says the range too (`-1` or `3000000000` are whole numbers, yet not ids), built from the
// parsers' own bounds in src/fields.ts: a copy written out by hand went stale once.
const ID: ColumnCheck = { parse: parseIdAt, expected: `an id (a whole number from 0 to ${MAX_ID})` };
const OPTIONAL_ID: ColumnCheck = { parse: parseOptionalIdAt, expected: `${ID.expected} or empty` };
const MONEY: ColumnCheck = { parse: parseCentsAt, expected: `an amount exact to the cent, from -${formatCents(MAX_CENTS)} to ${formatCents(MAX_CENTS)} (at most ${MAX_DIGITS} digits before the point, leading zeros not counted)` };
const COUNT: ColumnCheck = { parse: parseCountAt, expected: `a whole number of at most ${MAX_DIGITS} digits, leading zeros not counted` };
const TIMESTAMP: ColumnCheck = { parse: parseTimestampAt, expected: "a valid YYYY-MM-DD HH:MM:SS timestamp" };
const DATE_OR_EMPTY: ColumnCheck = { parse: (b, from, to) => (from === to ? 0 : parseDateAt(b, from, to)), expected: "a valid YYYY-MM-DD date or empty" };
// The client's reader says "bytes that are not UTF-8" of the rows it finds them in.
const TEXT: ColumnCheck = { parse: (b, from, to) => (isCleanText(b, from, to) ? 0 : NaN), expected: "UTF-8", fault: (column) => `${column} holds bytes that are not UTF-8` };
const NOT_EMPTY_TEXT: ColumnCheck = { ...TEXT, parse: (b, from, to) => (from === to ? NaN : TEXT.parse(b, from, to)) };

/** Per entity, in ENTITY_COLUMNS order: the same checks src/entityBatch.ts applies. */
const CHECKS: Readonly<Record<Entity, readonly ColumnCheck[]>> = {
  transactions: [NOT_EMPTY_TEXT, ID, OPTIONAL_ID, MONEY, TIMESTAMP],
  transaction_items: [ID, COUNT, MONEY, TIMESTAMP],
  users: [ID, DATE_OR_EMPTY],
  stores: [ID, TEXT],
  menu_items: [ID, TEXT],
};

/**
 * The reason row `r` of a batch (packed text columns in ENTITY_COLUMNS order) fails validation,
 * e.g. `final_amount is not an amount exact to the cent`; null when every field passes.
 */
export function rowFault(entity: Entity, columns: readonly TextColumn[], r: number, maxFieldBytes: number): string | null {
  const names = ENTITY_COLUMNS[entity];
  const checks = CHECKS[entity];
  for (let c = 0; c < checks.length; c++) {
    const column = columns[c];
    if (!column) continue;
    const from = fieldStart(column, r);
    const to = column.ends[r]!;
    const name = names[c]!;
    if (to - from > maxFieldBytes) return `${name} is longer than ${maxFieldBytes} bytes`;
    const check = checks[c]!;
    if (!Number.isNaN(check.parse(column.bytes, from, to))) continue;
    if (check === NOT_EMPTY_TEXT && from === to) return `${name} is empty`;
    return check.fault?.(name) ?? `${name} is not ${check.expected}`;
  }
  return null;
}
