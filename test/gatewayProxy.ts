/** A TCP proxy between a client and a gateway that can lose what the gateway sends on the first connection. */
import type { Socket, TCPSocketListener } from "bun";
import { encodeFrame, FrameDecoder } from "../src/frame.ts";
import { decodeGatewayMessage, type GatewayMessage } from "../src/protocol.ts";

/** Per-socket state: the other side, bytes waiting for a drain, whether it is the first connection. */
export interface Pipe { peer: Socket<Pipe> | null; pending: Uint8Array[]; first: boolean; decoder: FrameDecoder }

/** Write what the socket takes, queue the rest for its drain. */
function forward(to: Socket<Pipe>, bytes: Uint8Array): void {
  const queue = to.data.pending;
  if (queue.length > 0) return void queue.push(bytes);
  const n = to.write(bytes);
  if (n < bytes.length) queue.push(bytes.subarray(n));
}

function drain(s: Socket<Pipe>): void {
  const queue = s.data.pending;
  while (queue.length > 0) {
    const head = queue[0]!;
    const n = s.write(head);
    if (n < head.length) {
      queue[0] = head.subarray(n);
      return;
    }
    queue.shift();
  }
}

/** What the proxy does with one gateway message on the first connection. */
export type ProxyVerdict = "pass" | "drop" | "cut";

/**
 * A TCP proxy to a gateway at `upstreamPort`. On the first connection, each message from the
 * gateway is passed, dropped, or cuts the connection there (both sides), as `first` says; later
 * connections pass as they are.
 */
export function gatewayProxy(upstreamPort: number, first: (msg: GatewayMessage) => ProxyVerdict): TCPSocketListener<Pipe> {
  let connections = 0;
  return Bun.listen<Pipe>({
    hostname: "127.0.0.1", port: 0,
    socket: {
      async open(client) {
        client.data = { peer: null, pending: [], first: connections++ === 0, decoder: new FrameDecoder(64 << 20) };
        const upstream = await Bun.connect<Pipe>({
          hostname: "127.0.0.1", port: upstreamPort,
          data: { peer: client, pending: [], first: client.data.first, decoder: new FrameDecoder(64 << 20) },
          socket: {
            data(up, bytes) {
              if (!up.data.first) return forward(client, bytes);
              for (const payload of up.data.decoder.push(bytes)) {
                const verdict = first(decodeGatewayMessage(payload));
                if (verdict === "cut") {
                  client.terminate();
                  up.terminate();
                  return;
                }
                if (verdict === "pass") forward(client, encodeFrame(payload));
              }
            },
            drain,
            close() { client.end(); },
            error() { client.end(); },
          },
        });
        client.data.peer = upstream;
        for (const bytes of client.data.pending.splice(0)) forward(upstream, bytes);
      },
      data(client, bytes) {
        if (client.data.peer) forward(client.data.peer, bytes);
        else client.data.pending.push(bytes.slice());
      },
      drain,
      close(client) { client.data.peer?.end(); },
      error(client) { client.data.peer?.end(); },
    },
  });
}
