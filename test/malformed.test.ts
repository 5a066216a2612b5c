/**
 * A dataset with malformed rows of every kind (wrong field count, unparsable number and date,
 * invalid UTF-8) and an empty file: the session completes, every bad row is skipped and reported
 * with its file and line, and the results equal coffee reference (which skips the same rows).
 */
import { afterAll, expect, setDefaultTimeout, test } from "bun:test";
import { appendFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { defaultClientConfig, runClient } from "../roles/client.ts";
import { defaultGatewayConfig } from "../roles/gateway.ts";
import { generateDataset, parseMonthRange } from "../src/generator.ts";
import { startInProcessCluster } from "../src/inProcessCluster.ts";
import { MemoryBroker, MemoryTransport } from "../src/memoryTransport.ts";
import { computeReference } from "../src/reference.ts";
import { rejectReportLines } from "../src/rejectReport.ts";
import { readResults, tempDir } from "./harness.ts";

setDefaultTimeout(60_000);
const dirs: string[] = [];
afterAll(() => { for (const d of dirs) rmSync(d, { recursive: true, force: true }); });

test("malformed rows are skipped and reported per file; the session completes exactly", async () => {
  const data = tempDir("bad");
  const out = tempDir("badout");
  dirs.push(data, out);
  await generateDataset({ out: data, seed: 31, months: parseMonthRange("2024-03..2024-03"), transactionsPerMonth: 300, users: 80, stores: 10, menuItems: 8 });
  const txFile = readdirSync(join(data, "transactions"))[0]!;
  const txPath = join(data, "transactions", txFile);
  const lines = (await Bun.file(txPath).text()).trimEnd().split("\n").length; // header + rows
  // transaction_id,store_id,payment_method_id,voucher_id,user_id,original_amount,discount_applied,final_amount,created_at
  appendFileSync(txPath, "bad-count,1,1\n");                                            // wrong field count
  appendFileSync(txPath, "bad-amount,1,1,,5.0,80.0,0.0,abc,2024-03-01 10:00:00\n");      // unparsable number
  appendFileSync(txPath, "bad-date,1,1,,5.0,80.0,0.0,80.0,2024-02-30 10:00:00\n");       // impossible date
  appendFileSync(txPath, Buffer.concat([Buffer.from("bad-utf8-"), Buffer.from([0xff, 0xfe]), Buffer.from(",1,1,,5.0,80.0,0.0,80.0,2024-03-01 10:00:00\n")]));
  appendFileSync(txPath, "good-after-bad,1,1,,5.0,80.0,0.0,80.0,2024-03-01 10:00:00\n");  // still counted
  appendFileSync(txPath, `${"x".repeat(70_000)},1,1,,5.0,80.0,0.0,80.0,2024-03-01 10:00:00\n`); // a field over the 64 KiB default
  writeFileSync(join(data, "transactions", "zz-empty.csv"), "");                          // an empty file
  const usersFile = readdirSync(join(data, "users"))[0]!;
  appendFileSync(join(data, "users", usersFile), "999999,M,1965-13-01,2024-03-01 10:00:00\n"); // bad birthdate
  // More bad rows in one file than either report lists: the client and coffee reference keep the same first five.
  const menuFile = readdirSync(join(data, "menu_items"))[0]!;
  const menuLines = (await Bun.file(join(data, "menu_items", menuFile)).text()).trimEnd().split("\n").length;
  for (let i = 0; i < 7; i++) appendFileSync(join(data, "menu_items", menuFile), `item-${i},Bad Item,coffee,1.0,False,,\n`);

  const reference = await computeReference(data);
  const broker = new MemoryBroker();
  const cluster = await startInProcessCluster(defaultGatewayConfig({ host: "127.0.0.1", port: 0 }), new Map(), () => new MemoryTransport(broker, "bad"), true);
  try {
    const r = await runClient(defaultClientConfig({ dataDir: data, outDir: out, host: "127.0.0.1", port: cluster.gatewayPort(), quiet: true, batchRows: 64 }));
    expect(readResults(r.dir)).toEqual(reference.queries);
    expect(reference.queries.q1).toContain("good-after-bad,80.0");
    expect(r.rejects.total).toBe(13);
    // Counted as coffee reference counts them: every data row read, the rejected ones included.
    expect(r.rowsRead).toBe(reference.rowsRead);
    expect(r.rowsRead - r.rowsSent).toBe(2);
    expect(r.rejects.lines()).toEqual([
      `menu_items/${menuFile}: 7 rows rejected (lines ${[1, 2, 3, 4, 5].map((k) => menuLines + k).join(", ")}, ...)`,
      `transactions/${txFile}: 5 rows rejected (lines ${lines + 1}, ${lines + 2}, ${lines + 3}, ${lines + 4}, ${lines + 6})`,
      `users/${usersFile}: 1 row rejected (line ${(await Bun.file(join(data, "users", usersFile)).text()).trimEnd().split("\n").length})`,
    ]);
    // Why each row was rejected: the reader's reasons and the gateway's (carried in its acks), the
    // same as coffee reference gives from its own reading of the files.
    const usersLine = (await Bun.file(join(data, "users", usersFile)).text()).trimEnd().split("\n").length;
    expect(rejectReportLines(r.rejects.files()).filter((l) => l.startsWith("why: "))).toEqual([
      `why: menu_items/${menuFile}: item_id is not an id (a whole number from 0 to 2147483647): 7 rows (lines ${[1, 2, 3, 4, 5].map((k) => menuLines + k).join(", ")}, ...)`,
      `why: transactions/${txFile}: 3 fields where the header has 9: 1 row (line ${lines + 1})`,
      `why: transactions/${txFile}: final_amount is not an amount exact to the cent, from -90071992547409.91 to 90071992547409.91 (at most 15 digits before the point, leading zeros not counted): 1 row (line ${lines + 2})`,
      `why: transactions/${txFile}: created_at is not a valid YYYY-MM-DD HH:MM:SS timestamp: 1 row (line ${lines + 3})`,
      `why: transactions/${txFile}: bytes that are not UTF-8: 1 row (line ${lines + 4})`,
      `why: transactions/${txFile}: transaction_id is longer than 65536 bytes: 1 row (line ${lines + 6})`,
      `why: users/${usersFile}: birthdate is not a valid YYYY-MM-DD date or empty: 1 row (line ${usersLine})`,
    ]);
    expect(rejectReportLines(r.rejects.files())).toEqual(rejectReportLines(reference.rejects));
    expect(r.emptyFiles).toEqual(["transactions/zz-empty.csv"]);
    expect(reference.emptyFiles).toEqual(r.emptyFiles);
  } finally {
    await cluster.shutdown();
  }
});
