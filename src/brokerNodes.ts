/**
 * AMQP_URL may name several nodes of one RabbitMQ cluster, comma-separated
 * (`amqp://u:p@rabbit-1:5672,amqp://u:p@rabbit-2:5672`): a process connects to one of them and,
 * when that node goes away, to another, as RabbitMQ's own clients take a list of endpoints. With
 * quorum queues (--queue-type quorum) the queues live on every node, so any node serves them.
 */

/**
 * The node URLs of `url`, in order; a single URL is a list of one. A comma splits only before a
 * scheme, so one in a password stays. Spaces around a node and commas at either end go (a list
 * written on several lines, or `AMQP_URL="$A,$B,"`): no URL ends in a comma.
 */
export function brokerNodes(url: string): string[] {
  const nodes = url.replace(/^[\s,]+|[\s,]+$/g, "").split(/,(?=\s*amqps?:\/\/)/).map((node) => node.trim());
  return nodes.filter((node) => node !== "");
}
