/**
 * A RabbitMQ cluster of private nodes on this machine, for tests of coffee against several
 * nodes (quorum queues, a node lost). Each node is src/privateBroker.ts's; nodes 2..n join the
 * first. The nodes share the rabbitmq user's Erlang cookie, as nodes of one host do.
 */
import { join } from "node:path";
import { startPrivateBroker, type PrivateBroker } from "../src/privateBroker.ts";

/** A running cluster: its nodes, and AMQP_URL naming them all. */
export interface RabbitCluster {
  nodes: PrivateBroker[];
  url: string;
  /** SIGKILL a node's Erlang VM (as a host losing power would), not a clean stop. */
  kill(node: PrivateBroker): void;
  /** The OS pid of a node's Erlang VM (asking takes a second: `rabbitmqctl eval`), for a test that must kill several at one moment. */
  pidOf(node: PrivateBroker): number;
  stop(): void;
}

/** Start `size` private nodes in folders of `dir` (which the rabbitmq user must be able to reach) and join them into one cluster. */
export async function startRabbitCluster(dir: string, size: number): Promise<RabbitCluster> {
  const nodes = await Promise.all(Array.from({ length: size }, (_, i) => startPrivateBroker(join(dir, `node${i + 1}`), () => {})));
  const cluster: RabbitCluster = {
    nodes,
    url: nodes.map((n) => n.url).join(","),
    kill(node) {
      process.kill(cluster.pidOf(node), "SIGKILL");
    },
    pidOf(node) {
      const pid = Number(node.ctl(["eval", "os:getpid()."]).trim().replace(/"/g, ""));
      if (!Number.isInteger(pid) || pid <= 1) throw new Error(`no OS pid for ${node.nodeName}`);
      return pid;
    },
    stop() {
      // A killed node's stop fails at once (nothing answers) and still ends its wrapper process.
      for (const n of nodes) n.stop();
    },
  };
  try {
    const [seed, ...others] = nodes;
    for (const n of others) {
      n.ctl(["stop_app"]);
      n.ctl(["reset"]);
      n.ctl(["join_cluster", seed!.nodeName]);
      n.ctl(["start_app"]);
    }
  } catch (err) {
    cluster.stop();
    throw err;
  }
  return cluster;
}
