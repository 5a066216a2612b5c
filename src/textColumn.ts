/**
 * A column of text fields as one string plus each field's end offset. Batches travel from client
 * to gateway this way: one string per column instead of one per field, so neither side builds,
 * encodes or collects thousands of small strings per batch, and the gateway parses numbers in
 * place (src/fields.ts `...At(text, from, to)`).
 */

/** Field i is text.slice(ends[i - 1] ?? 0, ends[i]). */
export interface TextColumn {
  text: string;
  ends: Uint32Array;
}

/** Pack fields into a column. */
export function packColumn(fields: readonly string[]): TextColumn {
  const ends = new Uint32Array(fields.length);
  let at = 0;
  for (let i = 0; i < fields.length; i++) {
    at += fields[i]!.length;
    ends[i] = at;
  }
  return { text: fields.join(""), ends };
}

/** Start offset of field i. */
export function fieldStart(column: TextColumn, i: number): number {
  return i === 0 ? 0 : column.ends[i - 1]!;
}

/** Field i as a string (allocates; for the fields that stay strings, such as ids and names). */
export function fieldAt(column: TextColumn, i: number): string {
  return column.text.slice(fieldStart(column, i), column.ends[i]!);
}

/** Every field as a string (tests, small columns). */
export function unpackColumn(column: TextColumn): string[] {
  return Array.from(column.ends, (_, i) => fieldAt(column, i));
}

/** Why `column` is not a well-formed column of `rows` fields, or null when it is. */
export function columnProblem(column: unknown, rows: number): string | null {
  if (typeof column !== "object" || column === null) return "a column must be {text, ends}";
  const { text, ends } = column as { text?: unknown; ends?: unknown };
  if (typeof text !== "string" || !(ends instanceof Uint32Array)) return "a column must be {text: string, ends: Uint32Array}";
  if (ends.length !== rows) return `a column must hold ${rows} fields, not ${ends.length}`;
  let last = 0;
  for (let i = 0; i < ends.length; i++) {
    if (ends[i]! < last) return "column field ends must not decrease";
    last = ends[i]!;
  }
  if (last !== text.length) return `column field ends stop at ${last}, its text has ${text.length} characters`;
  return null;
}

/** Length of the longest field. */
export function longestField(column: TextColumn): number {
  let max = 0;
  let prev = 0;
  for (let i = 0; i < column.ends.length; i++) {
    const end = column.ends[i]!;
    if (end - prev > max) max = end - prev;
    prev = end;
  }
  return max;
}
