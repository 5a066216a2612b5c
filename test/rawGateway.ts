/** A hand-driven gateway connection for protocol tests: frames in, every reply out. */
import { encodeFrame, FrameDecoder } from "../src/frame.ts";
import { decodeGatewayMessage, encodeProtocol, type GatewayMessage } from "../src/protocol.ts";

/** A protocol message framed for the wire; `msg` may be malformed on purpose. */
export const frame = (msg: unknown): Uint8Array => encodeFrame(encodeProtocol(msg as never));

/**
 * Open a raw connection, send `frames`, and collect what the gateway sends until it closes.
 * `answer` may send more frames in reply to each message as it arrives.
 */
export async function raw(port: number, frames: Uint8Array[], answer?: (msg: GatewayMessage) => Uint8Array[]): Promise<GatewayMessage[]> {
  const got: GatewayMessage[] = [];
  const decoder = new FrameDecoder(64 << 20);
  let closed: () => void = () => {};
  const done = new Promise<void>((r) => (closed = r));
  const socket = await Bun.connect({
    hostname: "127.0.0.1", port,
    socket: {
      data(s, d) {
        for (const f of decoder.push(d)) {
          const msg = decodeGatewayMessage(f);
          got.push(msg);
          for (const reply of answer?.(msg) ?? []) s.write(reply);
        }
      },
      close() { closed(); },
      error() { closed(); },
    },
  });
  for (const f of frames) socket.write(f);
  await done;
  return got;
}
