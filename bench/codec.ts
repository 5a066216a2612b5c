/**
 * Batch body encodings compared on the same 5 000 transaction rows: the columnar typed-array
 * body the codec uses (ids as one packed UTF-8 column), versus msgpackr records (one object per row, structures on).
 *
 *   bun bench/codec.ts
 */
import { Packr } from "msgpackr";
import { decodeMessage, encodeMessage } from "../src/codec.ts";
import type { TransactionsBody } from "../src/entityBatch.ts";
import { packColumn } from "../src/textColumn.ts";

const N = 5000;
const ids = Array.from({ length: N }, (_, i) => `${(i * 2654435761 >>> 0).toString(16).padStart(8, "0")}-76c2-4095-b861-ab97d3cd9312`);
const body: TransactionsBody = {
  id: packColumn(ids),
  store: Int32Array.from({ length: N }, (_, i) => 1 + (i % 10)),
  user: Int32Array.from({ length: N }, (_, i) => (i % 9 === 0 ? -1 : 100000 + i * 7)),
  cents: Float64Array.from({ length: N }, (_, i) => 500 + ((i * 37) % 15000)),
  date: Int32Array.from({ length: N }, (_, i) => 20240101 + (i % 28)),
  time: Int32Array.from({ length: N }, (_, i) => (i * 13) % 86400),
};
const rows = ids.map((id, i) => ({ id, store: body.store[i], user: body.user[i], cents: body.cents[i], date: body.date[i], time: body.time[i] }));

function time(label: string, fn: () => unknown, reps = 200): number {
  for (let i = 0; i < 20; i++) fn();
  const t = performance.now();
  for (let i = 0; i < reps; i++) fn();
  const us = ((performance.now() - t) / reps) * 1000;
  return Math.round(us);
}

const columnar = encodeMessage({ kind: "data", session: "s", entity: "transactions", seq: 0, bodyKind: "transactions", body });
const records = new Packr({ useRecords: true });
const recordBytes = records.pack(rows);
const plain = new Packr({ useRecords: false });
const plainBytes = plain.pack(rows);

console.log(`| encoding (${N} transaction rows) | bytes | encode µs | decode µs |`);
console.log("| --- | ---: | ---: | ---: |");
console.log(`| columnar typed arrays (codec.ts, validated) | ${columnar.length} | ${time("enc", () => encodeMessage({ kind: "data", session: "s", entity: "transactions", seq: 0, bodyKind: "transactions", body }))} | ${time("dec", () => decodeMessage(columnar))} |`);
console.log(`| msgpackr records (structures) | ${recordBytes.length} | ${time("enc", () => records.pack(rows))} | ${time("dec", () => records.unpack(recordBytes))} |`);
console.log(`| msgpackr plain objects | ${plainBytes.length} | ${time("enc", () => plain.pack(rows))} | ${time("dec", () => plain.unpack(plainBytes))} |`);
