/**
 * `coffee demo`: the quickstart in one command. Generates sample datasets, starts a cluster with
 * `coffee up` (RabbitMQ if one answers, else a private node, else in-process), runs concurrent
 * clients, checks every result file against `coffee reference`, and stops the cluster.
 */
import { closeSync, mkdirSync, openSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { basename, join, resolve } from "node:path";
import { defaultClientConfig, runClient } from "../../roles/client.ts";
import type { Command } from "../command.ts";
import { CoffeeError, ConfigError, errorMessage } from "../errors.ts";
import { generateDataset, parseMonthRange } from "../generator.ts";
import { bool, int, str, type OptionSpec } from "../options.ts";
import { freeTcpPort } from "../ports.ts";
import { computeReference } from "../reference.ts";
import { QUERIES, queryFileName } from "../schema.ts";
import { PARENT_PID_ENV } from "../parentWatch.ts";
import { selfCommand } from "../selfCommand.ts";

const OPTIONS: readonly OptionSpec[] = [
  { name: "dir", type: "string", default: "./demo", help: "where data, cluster state and results go (an earlier demo's data and session folders there are replaced; anything else in its data and results folders is kept)" },
  { name: "clients", type: "int", default: 3, min: 1, max: 5, help: "concurrent clients, each with its own dataset" },
  { name: "months", type: "string", default: "2024-01..2024-06", help: "months of generated data" },
  { name: "transactions-per-month", type: "int", default: 5000, min: 1, max: 700_000, help: "generated transactions per month" },
  { name: "keep", type: "bool", default: false, help: "keep the cluster state directory afterwards" },
  { name: "transport", type: "enum", env: "COFFEE_TRANSPORT", default: "auto", choices: ["auto", "amqp", "memory"], help: "as coffee up's --transport: auto uses the RabbitMQ at AMQP_URL, else a private rabbitmq-server if installed, else one process over an in-memory transport; memory runs without a broker" },
];

/** `coffee demo`. */
export const demoCommand: Command = {
  name: "demo",
  usage: "coffee demo [--dir DIR] [--clients N] [options]",
  description: "Sample data, a local cluster, concurrent clients and a check of every result against coffee reference, in one command.",
  options: OPTIONS,
  async run(values) {
    const dir = resolve(str(values, "dir"));
    const say = (m: string): void => void process.stdout.write(`demo: ${m}\n`);
    const clients = int(values, "clients");
    // The datasets an earlier demo listed as its own all go, those of clients this one does not
    // have too (a folder left from a demo with more clients would read as this one's); a folder
    // no demo wrote stays, as in the results folder.
    const dataRoot = join(dir, "data");
    removeListed(dataRoot, DATA_MARKER, /^client\d+$/);
    for (let i = 0; i < clients; i++) {
      const data = join(dir, "data", `client${i + 1}`);
      rmSync(data, { recursive: true, force: true });
      mkdirSync(data, { recursive: true });
      const s = await generateDataset({ out: data, seed: 1000 + i, months: parseMonthRange(str(values, "months")), transactionsPerMonth: int(values, "transactions-per-month"), users: 2000, stores: 10, menuItems: 8 });
      say(`dataset ${i + 1}: ${s.rows.transactions} transactions, ${s.rows.transaction_items} items in ${data}`);
    }
    writeListed(dataRoot, DATA_MARKER, Array.from({ length: clients }, (_, i) => `client${i + 1}`));
    const resultsDir = join(dir, "results");
    const port = freeTcpPort();
    const stateDir = join(dir, "state");
    // The cluster's log lines would bury the demo's own few: they go to a file, shown if it fails.
    const logFile = join(dir, "cluster.log");
    let logFd: number;
    try {
      logFd = openSync(logFile, "w");
    } catch (err) {
      throw new CoffeeError("OUTPUT_FAILED", `cannot write the cluster's log ${logFile}: ${errorMessage(err)}`);
    }
    let up: Bun.Subprocess<"pipe", "pipe", number>;
    try {
      up = Bun.spawn([...selfCommand(), "up", "--state-dir", stateDir, "--port", String(port), "--namespace", `demo${port}`, "--monitors", "1", "--delete-on-exit", "--transport", str(values, "transport")], {
        stdin: "pipe", stdout: "pipe", stderr: logFd, env: { ...process.env, [PARENT_PID_ENV]: String(process.pid) } as Record<string, string>,
      });
    } finally {
      closeSync(logFd); // the child has its own copy
    }
    try {
      const reader = up.stdout.getReader();
      let banner = "";
      while (!banner.includes("ready")) {
        const { value, done } = await reader.read();
        if (done) {
          await up.exited;
          let tail: string;
          try {
            tail = lastLines(readFileSync(logFile, "utf8"), 20);
          } catch {
            tail = ""; // the failure to report is the cluster's, not the log's
          }
          process.stderr.write(tail);
          const how = up.signalCode ? `killed by ${up.signalCode}` : `exit ${up.exitCode}`;
          const why = `the cluster stopped before it was ready (${how}); ${tail === "" ? `its log ${logFile} is empty` : `its last log lines are above, all of them in ${logFile}`}`;
          // Exit 2 is coffee up refusing its configuration (a port or namespace in use, a broker that refuses us).
          throw up.exitCode === 2 ? new ConfigError(why) : new CoffeeError("BROKER_UNAVAILABLE", why);
        }
        banner += new TextDecoder().decode(value);
      }
      say(banner.trim());
      say(`cluster log: ${logFile}`);
      removeEarlierDemoResults(resultsDir, say);
      const started = performance.now();
      const runs = await Promise.all(Array.from({ length: clients }, (_, i) =>
        runClient(defaultClientConfig({ dataDir: join(dir, "data", `client${i + 1}`), outDir: resultsDir, host: "127.0.0.1", port, quiet: true }))));
      say(`${clients} sessions finished in ${((performance.now() - started) / 1000).toFixed(2)} s`);
      markDemoResults(resultsDir, runs.map((r) => r.dir));
      let exact = 0;
      for (const [i, run] of runs.entries()) {
        const ref = await computeReference(join(dir, "data", `client${i + 1}`));
        const same = QUERIES.every((q) => readFileSync(join(run.dir, queryFileName(q)), "utf8") === ref.queries[q]);
        if (same) exact++;
        say(`client ${i + 1}: ${run.rowsRead} rows, ${run.rejects.total} rejected -> ${run.dir} ${same ? "(equal to coffee reference)" : "(DIFFERS from coffee reference)"}`);
      }
      say(exact === clients ? "all results exact" : `${clients - exact} session(s) differ from the reference`);
      return exact === clients ? 0 : 1;
    } finally {
      up.kill("SIGTERM");
      await up.exited;
      if (!bool(values, "keep")) rmSync(stateDir, { recursive: true, force: true });
    }
  },
};

/** Names, one per line, of the session folders in a results folder that the last demo wrote there. */
const DEMO_MARKER = ".coffee-demo-sessions";

/** In `<dir>/data`: the client dataset folders the last demo generated there, one per line. */
const DATA_MARKER = ".coffee-demo-data";

/**
 * Remove the session folders an earlier demo wrote to `resultsDir` (its marker names them), so
 * sessions do not pile up run after run; anything else there (a client's `--out`, say) is kept.
 */
function removeEarlierDemoResults(resultsDir: string, say: (m: string) => void): void {
  removeListed(resultsDir, DEMO_MARKER, /^session_[0-9a-f-]+$/);
  let others: string[] = [];
  try {
    others = readdirSync(resultsDir);
  } catch {
    // Not there yet (or not a folder: the clients say so).
  }
  if (others.length > 0) say(`${resultsDir} holds ${others.length} entries no demo wrote: left as they are, this run's sessions go beside them`);
}

/** Note the session folders this run wrote, for the next demo to remove. */
function markDemoResults(resultsDir: string, sessionDirs: readonly string[]): void {
  writeListed(resultsDir, DEMO_MARKER, sessionDirs.map((d) => basename(d)));
}

/**
 * Remove the entries of `dir` that its `marker` file lists (one name per line; only names that
 * match `pattern`, the demo's own kind), then the marker. No marker: no demo wrote there (or it
 * was removed), so nothing is the demo's to remove.
 */
function removeListed(dir: string, marker: string, pattern: RegExp): void {
  let listed: string[] = [];
  try {
    listed = readFileSync(join(dir, marker), "utf8").split("\n").filter((name) => pattern.test(name));
  } catch {
    // No marker.
  }
  for (const name of listed) rmSync(join(dir, name), { recursive: true, force: true });
  rmSync(join(dir, marker), { force: true });
}

/** List `names` in `dir`'s `marker` file, for the next demo's `removeListed`. */
function writeListed(dir: string, marker: string, names: readonly string[]): void {
  writeFileSync(join(dir, marker), names.map((n) => `${n}\n`).join(""));
}

/** The last `n` lines of `text`, each ending in a newline. */
function lastLines(text: string, n: number): string {
  const lines = text.split("\n").filter((l) => l !== "");
  return lines.slice(-n).map((l) => `${l}\n`).join("");
}
