/** Broker messages that tests feed straight to an aggregator. */
import type { BrokerMessage } from "../src/codec.ts";
import { packColumn } from "../src/textColumn.ts";

/** Batch 0 of `rows` transactions as the Q1 aggregator receives them (after filter-amount), ids tx-000000 up. */
export function q1TransactionsBatch(session: string, rows: number): BrokerMessage {
  return {
    kind: "data", session, entity: "transactions", seq: 0, bodyKind: "transactions",
    body: {
      id: packColumn(Array.from({ length: rows }, (_, i) => `tx-${String(i).padStart(6, "0")}`)), store: new Int32Array(rows), user: new Int32Array(rows),
      cents: new Float64Array(rows).fill(8000), date: new Int32Array(rows).fill(20240101), time: new Int32Array(rows).fill(36000),
    },
  } as BrokerMessage;
}
