/**
 * coffee on a 3-node RabbitMQ cluster (private nodes; the shared broker is never touched), with
 * quorum queues and AMQP_URL naming every node: the node leading most of the namespace's queues
 * (and so holding the connections of the processes that declared them) is SIGKILLed mid-upload.
 * Every process on it moves to another node, the queues elect new leaders, and the session's
 * results stay exact.
 */
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { readdirSync, readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { readResults, reference, sessionDirFrom, slowClient, startCluster, tempDir, generate } from "./harness.ts";
import type { PrivateBroker } from "../src/privateBroker.ts";
import { startRabbitCluster, type RabbitCluster } from "./rabbitCluster.ts";

setDefaultTimeout(300_000);

const installed = Bun.which("rabbitmq-server") !== null;

describe.if(installed)("a RabbitMQ node lost (3-node private cluster, quorum queues)", () => {
  let rabbit: RabbitCluster;
  let dir: string;

  beforeAll(async () => {
    dir = tempDir("rabbit-cluster");
    rabbit = await startRabbitCluster(dir, 3);
  });

  afterAll(() => {
    rabbit?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  test("the node leading most queues is killed mid-upload: its processes move to the other nodes and the results are exact", async () => {
    const data = join(dir, "data");
    const out = join(dir, "out");
    await generate(data, 83, ["--months", "2024-05..2024-06", "--transactions-per-month", "3000", "--users", "400"]);
    const expected = await reference(data);
    // The namespace goes with the private cluster in afterAll.
    const cluster = await startCluster({ tag: "nodeloss", extraArgs: ["--queue-type", "quorum"], env: { AMQP_URL: rabbit.url }, keepNamespace: true });
    try {
      const connectedAt = (log: string): string[] => [...log.matchAll(/broker connected at amqp:\/\/[^@]*@127\.0\.0\.1:(\d+)/g)].map((m) => m[1]!);
      const logText = (f: string): string => readFileSync(join(cluster.stateDir, "logs", f), "utf8");
      // The victim: the node leading most of the namespace's queues. A quorum queue is led by the
      // node it was declared on, so the process that declared it is connected there too.
      const leaders = rabbit.nodes[0]!.ctl(["list_queues", "name", "leader", "--no-table-headers"]).split("\n").filter((l) => l.startsWith(`${cluster.namespace}.`));
      expect(leaders.length).toBeGreaterThan(0);
      const led = (n: PrivateBroker): number => leaders.filter((l) => l.trim().endsWith(n.nodeName)).length;
      const victim = [...rabbit.nodes].sort((a, b) => led(b) - led(a))[0]!;
      expect(led(victim)).toBeGreaterThan(0);
      const port = victim.url.slice(victim.url.lastIndexOf(":") + 1);

      const client = slowClient(cluster.port, data, out);
      await client.underWay;
      rabbit.kill(victim);
      const r = await client.finished;
      expect({ code: r.code, stderr: r.stderr }).toEqual({ code: 0, stderr: "" });
      expect(readResults(sessionDirFrom(r.stdout))).toEqual(expected);
      // Every process that had been on the lost node found another.
      const logs = readdirSync(join(cluster.stateDir, "logs")).filter((f) => f.endsWith(".log"));
      const onVictim = logs.filter((f) => connectedAt(logText(f))[0] === port);
      expect(onVictim.length).toBeGreaterThan(0);
      for (const f of onVictim) {
        const moved = connectedAt(logText(f)).slice(1);
        expect({ f, moved: moved.length > 0 && moved.every((p) => p !== port) }).toEqual({ f, moved: true });
      }
    } finally {
      await cluster.stop();
    }
  });
});
