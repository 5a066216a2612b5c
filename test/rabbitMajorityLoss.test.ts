/**
 * coffee on a 3-node RabbitMQ cluster (private nodes; the shared broker is never touched) with
 * quorum queues, when two of the three nodes are SIGKILLed mid-upload: the queues have no
 * majority, so nothing can be published or delivered until the nodes are back. Every process
 * waits (none exits), and once the two nodes have been restarted the session completes exactly.
 */
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { readdirSync, readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { generate, readResults, reference, sessionDirFrom, slowClient, startCluster, tempDir } from "./harness.ts";
import { startRabbitCluster, type RabbitCluster } from "./rabbitCluster.ts";

setDefaultTimeout(300_000);

const installed = Bun.which("rabbitmq-server") !== null;

describe.if(installed)("a RabbitMQ cluster loses its majority (3-node private cluster, quorum queues)", () => {
  let rabbit: RabbitCluster;
  let dir: string;

  beforeAll(async () => {
    dir = tempDir("rabbit-majority");
    rabbit = await startRabbitCluster(dir, 3);
  });

  afterAll(() => {
    rabbit?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  test("two nodes of three killed mid-upload and restarted: no process exits, and the results are exact", async () => {
    const data = join(dir, "data");
    const out = join(dir, "out");
    await generate(data, 91, ["--months", "2024-05..2024-06", "--transactions-per-month", "3000", "--users", "400"]);
    const expected = await reference(data);
    const cluster = await startCluster({ tag: "majority", extraArgs: ["--queue-type", "quorum"], env: { AMQP_URL: rabbit.url }, keepNamespace: true });
    try {
      const client = slowClient(cluster.port, data, out);
      await client.underWay;
      const [, second, third] = rabbit.nodes;
      rabbit.kill(second!);
      rabbit.kill(third!);
      // Back on their own ports and data, they rejoin the survivor and the queues regain a majority.
      await Promise.all([second!.restart(), third!.restart()]);
      const r = await client.finished;
      expect({ code: r.code, stderr: r.stderr }).toEqual({ code: 0, stderr: "" });
      expect(readResults(sessionDirFrom(r.stdout))).toEqual(expected);
      // The loss was felt: processes that were on the killed nodes connected again (each starts at a random node).
      const logs = readdirSync(join(cluster.stateDir, "logs")).filter((f) => f.endsWith(".log"));
      const reconnected = logs.filter((f) => (readFileSync(join(cluster.stateDir, "logs", f), "utf8").match(/broker connected at/g)?.length ?? 0) > 1);
      expect(reconnected.length).toBeGreaterThan(0);
      // coffee up restarted nothing: every process rode it out.
      expect(readFileSync(join(cluster.stateDir, "cluster.json"), "utf8")).not.toMatch(/"restarts":[1-9]/);
    } finally {
      await cluster.stop();
    }
  });
});
