/**
 * A small session's latency on a cluster busy with large ones: every session's batches share the
 * pipeline's queues, first in, first out, so a session started behind others waits for what is
 * queued ahead of it. Run with the gateway's backlog bound (--max-backlog, its default) and
 * without it (0), each on a fresh `coffee up` (amqp, 1 monitor):
 *
 *   1. the small session alone (idle latency);
 *   2. --clients big sessions at once, and the small one --delay-s later.
 *
 *   bun bench/mixed.ts --big DIR --small DIR [--clients 4] [--delay-s 15] [--backlogs 32,0]
 *                      [--work /tmp/coffee-bench-mixed]
 *
 * The big sessions must still be uploading --delay-s after they start: a folder whose
 * transactions/ links one month's files three times (11.4 M rows from the reduced folder) takes
 * ~40 s with four clients here. Prints per setting, in the order given: the small session's
 * latency alone and behind the big ones, the big sessions' times, the broker's RSS growth while
 * they ran (its peak over its RSS just before; the broker is shared, so run the settings in both
 * orders), the gateway's count of backlog holds (to show the setting took), and whether every
 * session's files equal `coffee reference` byte for byte (exit 1 if one does not). Uses
 * dist/coffee when built.
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { join, resolve } from "node:path";
import { readClusterFile } from "../src/clusterPlan.ts";
import { pingHealth } from "../src/health.ts";
import { freeTcpPort } from "../src/ports.ts";
import { QUERIES, queryFileName } from "../src/schema.ts";
import { benchArgs } from "./benchArgs.ts";
import { brokerPids, coffeeBin, installSignalCleanup, memoryMb, run, startUp, stopLive } from "./procStats.ts";

const values = benchArgs(import.meta.path, {
  big: { type: "string" },
  small: { type: "string" },
  clients: { type: "string", default: "4" },
  "delay-s": { type: "string", default: "15" },
  backlogs: { type: "string", default: "32,0" },
  work: { type: "string", default: "/tmp/coffee-bench-mixed" },
});
const fail = (msg: string): never => { console.error(`mixed: ${msg}`); process.exit(2); };
const folder = (v: string | undefined, name: string): string => (v && existsSync(join(v, "transactions")) ? resolve(v) : fail(`--${name} DIR (an existing dataset folder) is required`));
const big = folder(values.big, "big");
const small = folder(values.small, "small");
const clients = Number(values.clients);
if (!Number.isInteger(clients) || clients < 1) fail(`--clients: a count ≥ 1, not "${values.clients}"`);
const delayMs = Number(values["delay-s"]) * 1000;
if (!(delayMs >= 0)) fail(`--delay-s: seconds ≥ 0, not "${values["delay-s"]}"`);
const backlogs = values.backlogs.split(",").map(Number);
if (backlogs.some((b) => !Number.isInteger(b) || b < 0)) fail(`--backlogs: counts ≥ 0 separated by commas, not "${values.backlogs}"`);
const work = resolve(values.work);
rmSync(work, { recursive: true, force: true });
mkdirSync(work, { recursive: true });
installSignalCleanup();
const bin = coffeeBin();
const log = (line: string): void => console.error(`[mixed ${new Date().toISOString().slice(11, 19)}] ${line}`);

/** The four query files of a folder holding them, by name. */
const filesOf = (dir: string): Record<string, string> => Object.fromEntries(QUERIES.map((q) => [q, readFileSync(join(dir, queryFileName(q)), "utf8")]));
const sessionDir = (out: string): string => join(out, readdirSync(out).find((d) => d.startsWith("session_")) ?? fail(`no session folder in ${out}`));
const reference = async (data: string, name: string): Promise<Record<string, string>> => {
  const out = join(work, `reference-${name}`);
  await run(bin, ["reference", "--data", data, "--out", out]);
  return filesOf(out);
};
log("computing the references");
const expected = { big: await reference(big, "big"), small: await reference(small, "small") };
let wrong = 0;

/** Run one client to its files; seconds from its start, and whether its files are exact. */
async function session(kind: "big" | "small", data: string, port: number, tag: string): Promise<number> {
  const out = join(work, `out-${tag}`);
  const done = await run(bin, ["--role", "client", "--data", data, "--out", out, "--gateway", `127.0.0.1:${port}`, "--quiet"]);
  const exact = JSON.stringify(filesOf(sessionDir(out))) === JSON.stringify(expected[kind]);
  if (!exact) {
    wrong++;
    log(`${tag}: results differ from coffee reference`);
  }
  return (done.end - done.start) / 1000;
}

const s = (x: number): string => `${x.toFixed(2)} s`;
for (const backlog of backlogs) {
  const port = freeTcpPort();
  const stateDir = join(work, `state-${backlog}`);
  await startUp(bin, ["up", "--transport", "amqp", "--state-dir", stateDir, "--port", String(port), "--namespace", `benchmixed${process.pid}x${port}`,
    "--monitors", "1", "--delete-on-exit"], join(work, `up-${backlog}.log`), { COFFEE_MAX_BACKLOG: String(backlog) });
  const alone = await session("small", small, port, `${backlog}-alone`);
  const brokerRss = (): number => brokerPids().reduce((sum, pid) => sum + (memoryMb(pid)?.rss ?? 0), 0);
  const brokerBefore = brokerRss();
  let brokerPeak = brokerBefore;
  const watch = setInterval(() => { brokerPeak = Math.max(brokerPeak, brokerRss()); }, 250);
  const bigs = Array.from({ length: clients }, (_, i) => session("big", big, port, `${backlog}-big${i + 1}`));
  await Bun.sleep(delayMs);
  const behind = await session("small", small, port, `${backlog}-behind`);
  const bigTimes = await Promise.all(bigs);
  clearInterval(watch);
  // The gateway's own word that the setting took: how often it held uploads for the backlog.
  const gateway = readClusterFile(join(stateDir, "cluster.json")).find((p) => p.role === "gateway");
  const holds = gateway ? (await pingHealth("127.0.0.1", gateway.healthPort, 2000))?.status.backlogHolds : undefined;
  await stopLive();
  console.log(`--max-backlog ${backlog}: small alone ${s(alone)}, behind ${clients} big ${s(behind)} (started ${delayMs / 1000} s after them); ` +
    `big ${bigTimes.map(s).join(", ")}; broker RSS ${brokerBefore.toFixed(0)} → peak ${brokerPeak.toFixed(0)} MB (+${(brokerPeak - brokerBefore).toFixed(0)}); gateway backlog holds ${String(holds ?? "?")}`);
}
console.log(wrong === 0 ? "every session exact" : `${wrong} session(s) differ from coffee reference`);
process.exit(wrong === 0 ? 0 : 1);
