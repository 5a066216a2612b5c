/**
 * The short chaos run CI requires: 60 s of SIGKILLs every 2-3 s across workers, aggregators and
 * monitors (and one broker restart when rabbitmq-server is installed), 3 concurrent clients
 * starting sessions all along; every session must be exact.
 */
import { expect, setDefaultTimeout, test } from "bun:test";
import { rmSync } from "node:fs";
import { connectBroker } from "../src/brokerAddress.ts";
import { AMQP_URL, coffeeArgv, runCoffee, tempDir, watchedText } from "./harness.ts";

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

test("coffee chaos interrupted (SIGINT) stops its cluster and clients and deletes its namespace", async () => {
  const dir = tempDir("chaos-int");
  const chaos = Bun.spawn(coffeeArgv("chaos", "--duration-s", "120", "--clients", "1", "--dir", dir, "--transactions-per-month", "4000"), {
    env: { ...process.env, AMQP_URL } as Record<string, string>, stdout: "pipe", stderr: "pipe",
  });
  try {
    const log = watchedText(chaos.stderr, "coffee chaos");
    const ready = await log.line(/cluster ready on port (\d+)/);
    const namespace = `chaos${/port (\d+)/.exec(ready)![1]}`;
    // A session under way: its client must go too.
    await log.line(/SIGKILL /);
    chaos.kill("SIGINT");
    expect(await chaos.exited).toBe(130);
    expect(await new Response(chaos.stdout).text()).toContain("chaos: interrupted before its end");
    // Nothing of the run is left on the broker: no queue of its namespace answers a declare check.
    const { conn } = await connectBroker({ url: AMQP_URL });
    try {
      const ch = await conn.createChannel();
      ch.on("error", () => {});
      const left = await ch.checkQueue(`${namespace}.results`).then(() => true, () => false);
      expect(left).toBe(false);
    } finally {
      await conn.close().catch(() => {});
    }
    // No client of the run outlives it.
    const clients = Bun.spawnSync(["pgrep", "-f", `--gateway 127.0.0.1:${/port (\d+)/.exec(ready)![1]}`]).stdout.toString().trim();
    expect(clients).toBe("");
  } finally {
    chaos.kill("SIGKILL");
    rmSync(dir, { recursive: true, force: true });
  }
});
