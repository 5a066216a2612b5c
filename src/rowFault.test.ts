import { expect, test } from "bun:test";
import { parseEntityRows } from "./entityBatch.ts";
import { rowFault } from "./rowFault.ts";
import { ENTITIES, ENTITY_COLUMNS, type Entity } from "./schema.ts";
import { packColumn } from "./textColumn.ts";

/** A sound row of each entity, in ENTITY_COLUMNS order. */
const SOUND: Record<Entity, string[]> = {
  transactions: ["tx-1", "3", "140170.0", "80.50", "2024-03-01 10:00:00"],
  transaction_items: ["2", "3", "12.25", "2024-03-01 10:00:00"],
  users: ["7", "1965-12-01"],
  stores: ["3", "G Coffee @ Kajang, \"Main\""],
  menu_items: ["2", "Flat White"],
};

/** Bad values per column (null: the column takes any text), each with the reason expected. */
const BAD: Record<Entity, ([string, string] | null)[][]> = {
  transactions: [
    [["", "transaction_id is empty"]],
    [["x", "store_id is not an id (a whole number from 0 to 2147483647)"], ["", "store_id is not an id (a whole number from 0 to 2147483647)"], ["-1", "store_id is not an id (a whole number from 0 to 2147483647)"], ["2147483648", "store_id is not an id (a whole number from 0 to 2147483647)"]],
    [["1.5", "user_id is not an id (a whole number from 0 to 2147483647) or empty"]],
    [["abc", "final_amount is not an amount exact to the cent, from -90071992547409.91 to 90071992547409.91 (at most 15 digits before the point, leading zeros not counted)"], ["1.005", "final_amount is not an amount exact to the cent, from -90071992547409.91 to 90071992547409.91 (at most 15 digits before the point, leading zeros not counted)"], ["1234567890123456", "final_amount is not an amount exact to the cent, from -90071992547409.91 to 90071992547409.91 (at most 15 digits before the point, leading zeros not counted)"], ["99999999999999.99", "final_amount is not an amount exact to the cent, from -90071992547409.91 to 90071992547409.91 (at most 15 digits before the point, leading zeros not counted)"], ["90071992547409.92", "final_amount is not an amount exact to the cent, from -90071992547409.91 to 90071992547409.91 (at most 15 digits before the point, leading zeros not counted)"], ["", "final_amount is not an amount exact to the cent, from -90071992547409.91 to 90071992547409.91 (at most 15 digits before the point, leading zeros not counted)"]],
    [["2024-02-30 10:00:00", "created_at is not a valid YYYY-MM-DD HH:MM:SS timestamp"], ["2024-03-01", "created_at is not a valid YYYY-MM-DD HH:MM:SS timestamp"]],
  ],
  transaction_items: [
    [["?", "item_id is not an id (a whole number from 0 to 2147483647)"]],
    [["2.5", "quantity is not a whole number of at most 15 digits, leading zeros not counted"], ["1000000000000000", "quantity is not a whole number of at most 15 digits, leading zeros not counted"]],
    [["1,5", "subtotal is not an amount exact to the cent, from -90071992547409.91 to 90071992547409.91 (at most 15 digits before the point, leading zeros not counted)"]],
    [["2024-13-01 10:00:00", "created_at is not a valid YYYY-MM-DD HH:MM:SS timestamp"]],
  ],
  users: [[["u7", "user_id is not an id (a whole number from 0 to 2147483647)"]], [["1965-13-01", "birthdate is not a valid YYYY-MM-DD date or empty"]]],
  stores: [[["", "store_id is not an id (a whole number from 0 to 2147483647)"]], []],
  menu_items: [[["two", "item_id is not an id (a whole number from 0 to 2147483647)"]], []],
};

function columnsOf(entity: Entity, rows: string[][]) {
  return ENTITY_COLUMNS[entity].map((_, c) => packColumn(rows.map((row) => row[c]!)));
}

test("each malformed field is named with what it should have been, as the gateway's validator rejects it", () => {
  for (const entity of ENTITIES) {
    const rows: string[][] = [SOUND[entity]];
    const want: string[] = [];
    BAD[entity].forEach((cases, c) => {
      for (const bad of cases) {
        if (!bad) continue;
        const row = [...SOUND[entity]];
        row[c] = bad[0];
        rows.push(row, SOUND[entity]);
        want.push(bad[1]);
      }
    });
    const columns = columnsOf(entity, rows);
    const parsed = parseEntityRows(entity, columns, rows.length);
    // Every bad row (odd indexes) rejected, every sound one kept, and each reason the one expected.
    expect(parsed.rejected).toEqual(want.map((_, i) => 2 * i + 1));
    expect(parsed.reasons).toEqual(want);
    expect(rowFault(entity, columns, 0, 65_536)).toBeNull();
  }
});

test("the bounds the money and count reasons state are the parsers' own: at them a row passes, one past them it fails", () => {
  const item = (quantity: string, subtotal: string) => ["2", quantity, subtotal, "2024-03-01 10:00:00"];
  const rows = [
    item("999999999999999", "90071992547409.91"), item("-999999999999999", "-90071992547409.91"),
    item("1000000000000000", "1.0"), item("-1000000000000000", "1.0"), item("1", "90071992547409.92"), item("1", "-90071992547409.92"),
  ];
  const columns = columnsOf("transaction_items", rows);
  expect(parseEntityRows("transaction_items", columns, rows.length).rejected).toEqual([2, 3, 4, 5]);
});

test("an over-long field is named with the limit, whichever column it is in", () => {
  const row = [...SOUND.stores];
  row[1] = "n".repeat(40);
  const columns = columnsOf("stores", [row]);
  expect(parseEntityRows("stores", columns, 1, undefined, 32).reasons).toEqual(["store_name is longer than 32 bytes"]);
  expect(rowFault("stores", columns, 0, 64)).toBeNull();
});

test("every row the validator rejects gets a reason of its own (none left unexplained)", () => {
  // Sound rows with one field replaced by each value below: whatever the validator rejects, rowFault explains.
  const alphabet = ["", "0", "9", "-", ".", " ", ":", "x", "1.0", "00", "-1", "2147483647", "2147483648", "999999999999999", "1234567890123456", "0.001", "12.10",
    "2024-02-29", "1900-02-29", "1900-02-29 00:00:00", "2024-02-29 23:59:59", "2024-02-29 24:00:00", "0000-01-01 00:00:00"];
  for (const entity of ENTITIES) {
    const rows: string[][] = [];
    for (let c = 0; c < SOUND[entity].length; c++) {
      for (const v of alphabet) {
        const row = [...SOUND[entity]];
        row[c] = v;
        rows.push(row);
      }
    }
    const columns = columnsOf(entity, rows);
    const parsed = parseEntityRows(entity, columns, rows.length);
    const rejected = new Set(parsed.rejected);
    for (let r = 0; r < rows.length; r++) {
      const fault = rowFault(entity, columns, r, 65_536);
      expect({ entity, row: rows[r], fault: fault !== null }).toEqual({ entity, row: rows[r], fault: rejected.has(r) });
    }
  }
});
