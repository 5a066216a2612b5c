/**
 * The short chaos run CI requires: 60 s of SIGKILLs every 2-3 s across workers, aggregators and
 * monitors (and one broker restart when rabbitmq-server is installed), 3 concurrent clients
 * starting sessions all along; every session must be exact.
 */
import { expect, setDefaultTimeout, test } from "bun:test";
import { rmSync } from "node:fs";
import { runCoffee, tempDir } from "./harness.ts";

setDefaultTimeout(300_000);

test("coffee chaos: 60 s, >= 15 kills, 3 clients, every session exact", async () => {
  const dir = tempDir("chaos");
  try {
    const restart = Bun.which("rabbitmq-server") !== null ? ["--broker-restart-at-s", "30"] : [];
    const r = await runCoffee(["chaos", "--duration-s", "60", "--clients", "3", "--dir", dir, "--seed", "42", ...restart]);
    const summary = /chaos: (\d+) sessions, (\d+) exact; (\d+) kills/.exec(r.stdout);
    // Without a summary the run itself failed: its exit code and last words say why.
    if (!summary) console.log(`chaos exited ${r.code}:\n${r.stdout.slice(-2000)}\n${r.stderr.slice(-4000)}`);
    expect(summary).not.toBeNull();
    const [, sessions, exact, kills] = summary!.map(Number) as [number, number, number, number];
    console.log(r.stdout.split("\n").at(-2));
    // On failure, show which sessions were not exact and why.
    for (const line of r.stdout.split("\n")) if (/^\| \d/.test(line) && !line.includes("| exact |")) console.log(line);
    expect(r.code).toBe(0);
    expect(sessions).toBeGreaterThanOrEqual(3);
    expect(exact).toBe(sessions);
    expect(kills).toBeGreaterThanOrEqual(15);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
