/**
 * The whole cluster as real processes on the real broker: `coffee up`, several concurrent
 * clients on different generated datasets, every result file byte-identical to
 * `coffee reference`; and the session limit.
 */
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { rmSync } from "node:fs";
import { join } from "node:path";
import { AmqpTransport } from "../src/amqpTransport.ts";
import { CoffeeError } from "../src/errors.ts";
import { allQueues } from "../src/topology.ts";
import { AMQP_URL, generate, readResults, reference, runCoffee, sessionDirFrom, startCluster, tempDir, type TestCluster } from "./harness.ts";

// Real processes and a real broker: minutes, not the unit-test default of 5 s.
setDefaultTimeout(180_000);

const SMALL = ["--months", "2024-06..2024-07", "--transactions-per-month", "4000", "--users", "800"];

describe("cluster of processes on RabbitMQ", () => {
  let cluster: TestCluster;
  const dirs: string[] = [];
  const data: string[] = [];
  const expected: Record<string, string>[] = [];

  beforeAll(async () => {
    // Tiny result chunks, so Q1 (and every query) travels as many chunks end to end.
    cluster = await startCluster({ tag: "e2e", extraArgs: ["--replicas", "filter-year=2,group-q4=2"], env: { COFFEE_CHUNK_BYTES: "1024" } });
    for (const seed of [11, 22, 33]) {
      const dir = tempDir(`data${seed}`);
      dirs.push(dir);
      data.push(dir);
      await generate(dir, seed, seed === 33 ? ["--months", "2023-12..2024-02", "--transactions-per-month", "3000", "--users", "500"] : SMALL);
      expected.push(await reference(dir));
    }
  });

  afterAll(async () => {
    await cluster?.stop();
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  });

  test("3 concurrent clients on 3 datasets: every file equals coffee reference", async () => {
    const out = tempDir("out");
    dirs.push(out);
    const runs = await Promise.all(data.map((d) => runCoffee(["--role", "client", "--data", d, "--out", out, "--gateway", `127.0.0.1:${cluster.port}`, "--quiet"])));
    const sessions = new Set<string>();
    runs.forEach((r, i) => {
      expect(r.stderr).toBe("");
      expect(r.code).toBe(0);
      const dir = sessionDirFrom(r.stdout);
      sessions.add(dir);
      expect(dir.startsWith(join(out, "session_"))).toBe(true);
      expect(readResults(dir)).toEqual(expected[i]!);
    });
    expect(sessions.size).toBe(3);
  });
});

describe("coffee up without a broker", () => {
  test("--transport memory runs every role in one process and gives exact results", async () => {
    const cluster = await startCluster({ tag: "mem", extraArgs: ["--transport", "memory"] });
    // Its ready line counts roles, not processes: all but the one monitor run inside coffee up.
    const counted = /(\d+) roles \((\d+) of them inside this process\), transport memory/.exec(cluster.banner);
    expect(counted).not.toBeNull();
    expect(Number(counted![2])).toBe(Number(counted![1]) - 1);
    const data = tempDir("mdata");
    const out = tempDir("mout");
    try {
      await generate(data, 44, SMALL);
      const expected = await reference(data);
      const r = await runCoffee(["--role", "client", "--data", data, "--out", out, "--gateway", `127.0.0.1:${cluster.port}`, "--quiet"]);
      expect(r.code).toBe(0);
      expect(readResults(sessionDirFrom(r.stdout))).toEqual(expected);
    } finally {
      await cluster.stop();
      rmSync(data, { recursive: true, force: true });
      rmSync(out, { recursive: true, force: true });
    }
  });
});

describe("coffee up when nothing answers at AMQP_URL", () => {
  test("starts a private rabbitmq-server when one is installed (else runs in-process) and works", async () => {
    const installed = Bun.which("rabbitmq-server") !== null;
    const cluster = await startCluster({ tag: "priv", extraArgs: ["--transport", "auto"], env: { AMQP_URL: "amqp://guest:guest@127.0.0.1:1" } });
    const data = tempDir("privdata");
    const out = tempDir("privout");
    try {
      if (installed) {
        expect(cluster.banner).toContain("transport amqp");
        expect(cluster.banner).not.toContain("127.0.0.1:1)");
      } else expect(cluster.banner).toContain("transport memory");
      await generate(data, 55, ["--months", "2024-01..2024-01", "--transactions-per-month", "800", "--users", "200"]);
      const r = await runCoffee(["--role", "client", "--data", data, "--out", out, "--gateway", `127.0.0.1:${cluster.port}`, "--quiet"]);
      expect(r.code).toBe(0);
      expect(readResults(sessionDirFrom(r.stdout))).toEqual(await reference(data));
    } finally {
      await cluster.stop();
      rmSync(data, { recursive: true, force: true });
      rmSync(out, { recursive: true, force: true });
    }
    // The private node is stopped with the cluster.
    const beams = Bun.spawnSync(["pgrep", "-f", `${cluster.stateDir}/rabbitmq`]).stdout.toString().trim();
    expect(beams).toBe("");
  });
});

describe("quorum queues", () => {
  test("--queue-type quorum: exact results on quorum queues; a classic declaration of them is QUEUE_MISMATCH", async () => {
    const cluster = await startCluster({ tag: "quorum", extraArgs: ["--queue-type", "quorum"] });
    const data = tempDir("qdata");
    const out = tempDir("qout");
    try {
      await generate(data, 66, ["--months", "2024-03..2024-04", "--transactions-per-month", "1500", "--users", "300"]);
      const r = await runCoffee(["--role", "client", "--data", data, "--out", out, "--gateway", `127.0.0.1:${cluster.port}`, "--quiet"]);
      expect(r.code).toBe(0);
      expect(readResults(sessionDirFrom(r.stdout))).toEqual(await reference(data));
      // The broker holds them as quorum queues: declaring the same names as classic is refused.
      const classic = await AmqpTransport.open({
        broker: { url: AMQP_URL }, queueType: "classic", namespace: cluster.namespace, maxUnconfirmed: 8,
        reconnectInitialMs: 100, reconnectMaxMs: 200, onEvent: () => {}, onError: () => {},
      });
      try {
        let err: unknown;
        await classic.declare([allQueues()[0]!]).catch((e: unknown) => { err = e; });
        expect(err).toBeInstanceOf(CoffeeError);
        expect((err as CoffeeError).code).toBe("QUEUE_MISMATCH");
        expect((err as Error).message).toContain("--queue-type classic");
      } finally {
        await classic.close();
      }
    } finally {
      await cluster.stop();
      rmSync(data, { recursive: true, force: true });
      rmSync(out, { recursive: true, force: true });
    }
  });
});
