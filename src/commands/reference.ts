/** `coffee reference`: the four queries in one process, written as OUT/query1.csv .. query4.csv. */
import { accessSync, constants, mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { Command } from "../command.ts";
import { ConfigError, DatasetError, codedMessage, errorMessage } from "../errors.ts";
import { int, str } from "../options.ts";
import { computeReference, type ReferenceResult } from "../reference.ts";
import { rejectLine } from "../rejectReport.ts";
import { QUERIES, queryFileName } from "../schema.ts";

/** The `reference` tool: single-process oracle and baseline for the distributed system. */
export const referenceCommand: Command = {
  name: "reference",
  usage: "coffee reference --data DIR --out DIR [--batch-rows N]",
  description:
    "Computes the four queries in one process from the CSV folders, in the distributed system's output format (the test oracle and benchmark baseline).",
  options: [
    { name: "data", type: "string", required: true, help: "dataset folder with transactions/, transaction_items/, users/, stores/, menu_items/" },
    { name: "out", type: "string", required: true, help: "folder for query1.csv .. query4.csv (created if missing)" },
    { name: "batch-rows", type: "int", default: 5000, min: 1, max: 1_000_000, help: "rows per parsed batch" },
  ],
  async run(values) {
    const started = performance.now();
    const out = str(values, "out");
    // Checked before the dataset is read, not after.
    try {
      mkdirSync(out, { recursive: true });
      accessSync(out, constants.W_OK);
    } catch (err) {
      throw new ConfigError(`--out ${out}: cannot write results there (${errorMessage(err)})`);
    }
    let result: ReferenceResult;
    try {
      result = await computeReference(str(values, "data"), { batchRows: int(values, "batch-rows") });
    } catch (err) {
      if (!(err instanceof DatasetError)) throw err;
      process.stderr.write(`coffee reference: ${codedMessage(err)}\n`);
      return 1;
    }
    for (const q of QUERIES) writeFileSync(join(out, queryFileName(q)), result.queries[q]);
    // The client's words, so the two reports compare line for line.
    for (const r of result.rejects) process.stderr.write(`rejected: ${rejectLine(r)}\n`);
    const seconds = ((performance.now() - started) / 1000).toFixed(2);
    process.stdout.write(`reference: ${result.rowsRead} rows read, ${result.rowsRejected} rejected, ${seconds} s -> ${out}\n`);
    return 0;
  },
};
