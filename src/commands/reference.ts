/** `coffee reference`: the four queries in one process, written as OUT/query1.csv .. query4.csv. */
import { accessSync, constants, mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { Command } from "../command.ts";
import { ConfigError, DatasetError, SumOverflowError, codedMessage, errorMessage } from "../errors.ts";
import { bool, int, str } from "../options.ts";
import { Progress, type ProgressRenderer } from "../progress.ts";
import { fitLine, formatCount, formatDuration, renderBar } from "../progressBars.ts";
import { computeReference, type ReferenceProgress, type ReferenceResult } from "../reference.ts";
import { rejectReportLines } from "../rejectReport.ts";
import { QUERIES, queryFileName } from "../schema.ts";

/** The `reference` tool: single-process oracle and baseline for the distributed system. */
export const referenceCommand: Command = {
  name: "reference",
  usage: "coffee reference --data DIR --out DIR [--batch-rows N] [--quiet]",
  description:
    "Computes the four queries in one process from the CSV folders, in the distributed system's output format (the test oracle and benchmark baseline).",
  options: [
    { name: "data", type: "string", required: true, help: "dataset folder with transactions/, transaction_items/, users/, stores/, menu_items/" },
    { name: "out", type: "string", required: true, help: "folder for query1.csv .. query4.csv (created if missing)" },
    { name: "batch-rows", type: "int", default: 5000, min: 1, max: 1_000_000, help: "rows per parsed batch" },
    { name: "quiet", type: "bool", default: false, help: "no progress (a bar on a TTY, otherwise a line every 5 s): only the summary line" },
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
    let latest: ReferenceProgress | null = null;
    const progress = new Progress(!bool(values, "quiet"), referenceProgressRenderer(() => latest, started));
    progress.start();
    try {
      result = await computeReference(str(values, "data"), { batchRows: int(values, "batch-rows"), onProgress: (p) => (latest = p) });
    } catch (err) {
      // Neither is a bug: a dataset it cannot read, or one whose totals it cannot add exactly.
      if (!(err instanceof DatasetError || err instanceof SumOverflowError)) throw err;
      process.stderr.write(`coffee reference: ${codedMessage(err)}\n`);
      return 1;
    } finally {
      progress.finish();
    }
    for (const q of QUERIES) writeFileSync(join(out, queryFileName(q)), result.queries[q]);
    // The client's words, so the two reports compare line for line.
    for (const line of rejectReportLines(result.rejects)) process.stderr.write(`${line}\n`);
    for (const file of result.emptyFiles) process.stderr.write(`skipped: ${file}: empty file\n`);
    for (const note of result.notes) process.stderr.write(`warning: ${note}\n`);
    const seconds = ((performance.now() - started) / 1000).toFixed(2);
    process.stdout.write(`reference: ${result.rowsRead} rows read, ${result.rowsRejected} rejected, ${seconds} s -> ${out}\n`);
    return 0;
  },
};

/** What a reference run's progress shows: files and rows read so far, and for how long. */
export function referenceProgressRenderer(current: () => ReferenceProgress | null, startedMs: number): ProgressRenderer {
  const line = (p: ReferenceProgress | null, nowMs: number): string =>
    p === null
      ? `listing files, ${formatDuration((nowMs - startedMs) / 1000)}`
      : `${p.filesDone}/${p.filesTotal} files, ${formatCount(p.rowsRead)} rows read (${p.entity}), ${formatDuration((nowMs - startedMs) / 1000)}`;
  return {
    frame: (width, nowMs) => {
      const p = current();
      return [fitLine(`reference ${renderBar(p && p.filesTotal > 0 ? p.filesDone / p.filesTotal : null, 20, nowMs)} ${line(p, nowMs)}`, width)];
    },
    log: (nowMs) => [`reference: ${line(current(), nowMs)}`],
  };
}
