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

test("coffee demo --transport memory runs without a broker, and replaces the results of an earlier demo in its --dir", async () => {
  const dir = scratch("demo-memory");
  mkdirSync(join(dir, "results", "session_earlier"), { recursive: true });
  writeFileSync(join(dir, "results", "session_earlier", "query1.csv"), "transaction_id,final_amount\n");
  const r = await runCoffee(["demo", "--dir", dir, "--transport", "memory", ...SMALL], { AMQP_URL: "amqp://guest:guest@127.0.0.1:1" });
  expect(r.code).toBe(0);
  expect(r.stdout).toContain("transport memory");
  expect(r.stdout.trimEnd().split("\n").at(-1)).toBe("demo: all results exact");
  const sessions = readdirSync(join(dir, "results"));
  expect(sessions).toHaveLength(2);
  expect(sessions).not.toContain("session_earlier");
});
