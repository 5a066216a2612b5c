/** `coffee demo` end to end: its own lines on stdout, the cluster's in a log file, a failure shown with its cause. */
import { describe, expect, setDefaultTimeout, test } from "bun:test";
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { brokerProbe } from "../src/privateBroker.ts";
import { AMQP_URL, runCoffee, scratchDirs } from "./harness.ts";

const brokerUp = (await brokerProbe({ url: AMQP_URL })) === null;
const scratch = scratchDirs();
const SMALL = ["--clients", "2", "--months", "2024-01..2024-01", "--transactions-per-month", "200"];

setDefaultTimeout(60_000);

describe.skipIf(!brokerUp)("coffee demo", () => {
  test("prints only its own lines, checks every session against the reference, and keeps the cluster's log", async () => {
    const dir = scratch("demo");
    const r = await runCoffee(["demo", "--dir", dir, ...SMALL]);
    expect(r.code).toBe(0);
    const lines = r.stdout.trimEnd().split("\n");
    for (const line of lines) expect(line).toStartWith("demo: ");
    expect(lines.filter((l) => l.endsWith("(equal to coffee reference)"))).toHaveLength(2);
    expect(lines.at(-1)).toBe("demo: all results exact");
    expect(r.stderr).toBe("");
    const log = readFileSync(join(dir, "cluster.log"), "utf8");
    expect(log).toContain(" up INFO cluster stopped");
    expect(r.stdout).toContain(`demo: cluster log: ${join(dir, "cluster.log")}`);
    // Without --keep the cluster's state goes; the data and results stay.
    expect(existsSync(join(dir, "state"))).toBe(false);
    expect(existsSync(join(dir, "results"))).toBe(true);
  });

  test("a cluster the broker refuses (coffee up exits 2): the demo exits 2, CONFIG_INVALID, with the last log lines and the log path on stderr", async () => {
    const dir = scratch("demo-refused");
    const wrong = AMQP_URL.replace(/\/\/([^:@/]+):[^@]*@/, "//$1:not-the-password@");
    expect(wrong).not.toBe(AMQP_URL);
    const r = await runCoffee(["demo", "--dir", dir, ...SMALL], { AMQP_URL: wrong });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("refused the connection");
    expect(r.stderr).toContain(`coffee: CONFIG_INVALID: the cluster stopped before it was ready (exit 2); its last log lines are above, all of them in ${join(dir, "cluster.log")}`);
    expect(r.stderr).not.toContain("not-the-password");
  });
});

test("coffee demo --transport memory runs without a broker; it replaces an earlier demo's sessions, and nothing else in its results folder", async () => {
  const demo = (dir: string) => runCoffee(["demo", "--dir", dir, "--transport", "memory", ...SMALL], { AMQP_URL: "amqp://guest:guest@127.0.0.1:1" });
  const sessions = (dir: string) => readdirSync(join(dir, "results")).filter((f) => f.startsWith("session_")).sort();
  const fresh = scratch("demo-memory");
  const first = await demo(fresh);
  expect(first.code).toBe(0);
  expect(first.stdout).toContain("transport memory");
  expect(first.stdout.trimEnd().split("\n").at(-1)).toBe("demo: all results exact");
  const afterFirst = sessions(fresh);
  expect(afterFirst).toHaveLength(2);
  // The demo's own folder: the next demo replaces it.
  expect((await demo(fresh)).code).toBe(0);
  const afterSecond = sessions(fresh);
  expect(afterSecond).toHaveLength(2);
  expect(afterSecond.some((f) => afterFirst.includes(f))).toBe(false);
  // A demo with fewer clients leaves no dataset of the clients it does not have; a folder no demo
  // wrote stays.
  const datasets = (): string[] => readdirSync(join(fresh, "data")).filter((n) => !n.startsWith(".")).sort();
  expect(datasets()).toEqual(["client1", "client2"]);
  mkdirSync(join(fresh, "data", "client7"));
  const one = await runCoffee(["demo", "--dir", fresh, "--transport", "memory", "--clients", "1", "--months", "2024-01..2024-01", "--transactions-per-month", "200"], { AMQP_URL: "amqp://guest:guest@127.0.0.1:1" });
  expect(one.code).toBe(0);
  expect(datasets()).toEqual(["client1", "client7"]);
  // A client's results (no demo marker) where the demo writes: kept, run after run.
  const shared = scratch("demo-shared");
  mkdirSync(join(shared, "results", "session_mine"), { recursive: true });
  writeFileSync(join(shared, "results", "session_mine", "query1.csv"), "transaction_id,final_amount\n");
  const beside = await demo(shared);
  expect(beside.code).toBe(0);
  expect(beside.stdout).toContain("holds 1 entries no demo wrote: left as they are");
  const besideSessions = sessions(shared);
  expect(besideSessions).toHaveLength(3);
  // The next demo removes the two the last one wrote, and only those.
  expect((await demo(shared)).code).toBe(0);
  const again = sessions(shared);
  expect(again).toHaveLength(3);
  expect(again).toContain("session_mine");
  expect(again.filter((f) => f !== "session_mine").some((f) => besideSessions.includes(f))).toBe(false);
});
