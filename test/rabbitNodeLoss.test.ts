/**
 * coffee on a 3-node RabbitMQ cluster (private nodes; the shared broker is never touched), with
 * quorum queues and AMQP_URL naming every node: the node the gateway is connected to, which
 * leads the queues the gateway declared, is SIGKILLed mid-upload. Every process on it moves to
 * another node, the queues elect new leaders, and the session's results stay exact.
 */
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { readResults, reference, sessionDirFrom, slowClient, startCluster, tempDir, generate } from "./harness.ts";
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

  test("the gateway's node is killed mid-upload: processes move to the other nodes and the results are exact", async () => {
    const data = join(dir, "data");
    const out = join(dir, "out");
    await generate(data, 83, ["--months", "2024-05..2024-06", "--transactions-per-month", "3000", "--users", "400"]);
    const expected = await reference(data);
    // The namespace goes with the private cluster in afterAll.
    const cluster = await startCluster({ tag: "nodeloss", extraArgs: ["--queue-type", "quorum"], env: { AMQP_URL: rabbit.url }, keepNamespace: true });
    try {
      // Which node the gateway took (each process starts at a random node of the list).
      const connectedAt = (log: string): string[] => [...log.matchAll(/broker connected at amqp:\/\/[^@]*@127\.0\.0\.1:(\d+)/g)].map((m) => m[1]!);
      const gatewayLog = (): string => readFileSync(join(cluster.stateDir, "logs", "gateway.log"), "utf8");
      const port = connectedAt(gatewayLog())[0];
      const victim = rabbit.nodes.find((n) => n.url.endsWith(`:${port}`));
      if (!victim) throw new Error(`gateway log names no node of the cluster: ${gatewayLog()}`);
      // The queues' leaders: a quorum queue is led by the node it was declared on, the gateway's.
      const leaders = victim.ctl(["list_queues", "name", "leader", "--no-table-headers"]).split("\n").filter((l) => l.startsWith(`${cluster.namespace}.`));
      expect(leaders.length).toBeGreaterThan(0);
      expect(leaders.some((l) => l.includes(victim.nodeName))).toBe(true);

      const client = slowClient(cluster.port, data, out);
      await client.underWay;
      rabbit.kill(victim);
      const r = await client.finished;
      expect({ code: r.code, stderr: r.stderr }).toEqual({ code: 0, stderr: "" });
      expect(readResults(sessionDirFrom(r.stdout))).toEqual(expected);
      // The gateway found another node, and so did every process that had been on the lost one.
      const moved = connectedAt(gatewayLog()).slice(1);
      expect(moved.length).toBeGreaterThan(0);
      expect(moved.every((p) => p !== port)).toBe(true);
    } finally {
      await cluster.stop();
    }
  });
});
