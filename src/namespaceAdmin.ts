/** Broker housekeeping for a namespace: who consumes its queues, and removing them all. */
import { connectBroker, type BrokerAddress } from "./brokerAddress.ts";
import { allQueues } from "./topology.ts";

/** Delete a namespace's queues (with any messages left in them) and its exchange. */
export async function deleteNamespace(broker: BrokerAddress, namespace: string): Promise<void> {
  const { conn } = await connectBroker(broker);
  try {
    const ch = await conn.createChannel();
    for (const q of allQueues()) await ch.deleteQueue(`${namespace}.${q.name}`);
    await ch.deleteExchange(`${namespace}.data`);
  } finally {
    await conn.close();
  }
}

/** A namespace queue that has consumers, and how many. */
export interface ConsumedQueue {
  queue: string;
  consumers: number;
}

/**
 * The namespace's queues that have consumers right now: processes of some cluster are running
 * in it. Queues that do not exist are skipped (a passive check closes its channel, so each gets
 * a fresh one).
 */
export async function namespaceConsumers(broker: BrokerAddress, namespace: string): Promise<ConsumedQueue[]> {
  const { conn } = await connectBroker(broker);
  const found: ConsumedQueue[] = [];
  try {
    for (const q of allQueues()) {
      const ch = await conn.createChannel();
      // A missing queue closes the channel with 404; that answer arrives as the rejection below.
      ch.on("error", () => {});
      const queue = `${namespace}.${q.name}`;
      const ok = await ch.checkQueue(queue).catch(() => null);
      if (ok === null) continue;
      if (ok.consumerCount > 0) found.push({ queue, consumers: ok.consumerCount });
      await ch.close();
    }
  } finally {
    await conn.close();
  }
  return found;
}
