/** Broker housekeeping for a namespace: remove every queue and the exchange it declared. */
import { connectBroker, type BrokerAddress } from "./brokerAddress.ts";
import { allQueues } from "./topology.ts";

/** Delete a namespace's queues (with any messages left in them) and its exchange. */
export async function deleteNamespace(broker: BrokerAddress, namespace: string): Promise<void> {
  const conn = await connectBroker(broker);
  try {
    const ch = await conn.createChannel();
    for (const q of allQueues()) await ch.deleteQueue(`${namespace}.${q.name}`);
    await ch.deleteExchange(`${namespace}.data`);
  } finally {
    await conn.close();
  }
}
