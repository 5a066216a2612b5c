/** A hand-driven gateway connection for protocol tests: frames in, every reply out. */
import { encodeFrame, FrameDecoder } from "../src/frame.ts";
import { decodeGatewayMessage, encodeProtocol, PROTOCOL_VERSION, type GatewayMessage } from "../src/protocol.ts";
import { ENTITIES } from "../src/schema.ts";

/** A protocol message framed for the wire; `msg` may be malformed on purpose. */
export const frame = (msg: unknown): Uint8Array => encodeFrame(encodeProtocol(msg as never));

/** An open raw connection to a gateway. */
export interface RawConnection {
  send(f: Uint8Array): void;
  /** The next message of type `t` not yet taken, or the next error, whichever comes first. */
  next(t: GatewayMessage["t"]): Promise<GatewayMessage>;
  end(): void;
  /** Every message received so far, in order. */
  readonly seen: GatewayMessage[];
  /** Resolves once the connection is closed (by either side). */
  readonly closed: Promise<void>;
}

/** Connect to a gateway; `answer` may send frames in reply to each message as it arrives. */
export async function openRaw(port: number, answer?: (msg: GatewayMessage) => Uint8Array[]): Promise<RawConnection> {
  const seen: GatewayMessage[] = [];
  const inbox: GatewayMessage[] = [];
  let arrived: () => void = () => {};
  const { promise: closed, resolve: isClosed } = Promise.withResolvers<void>();
  const decoder = new FrameDecoder(64 << 20);
  const onClose = (): void => {
    isClosed();
    arrived();
  };
  const socket = await Bun.connect({
    hostname: "127.0.0.1", port,
    socket: {
      data(s, d) {
        for (const f of decoder.push(d)) {
          const msg = decodeGatewayMessage(f);
          seen.push(msg);
          inbox.push(msg);
          for (const reply of answer?.(msg) ?? []) s.write(reply);
        }
        arrived();
      },
      close: onClose,
      error: onClose,
    },
  });
  return {
    send: (f) => void socket.write(f),
    async next(t) {
      for (;;) {
        const i = inbox.findIndex((m) => m.t === t || m.t === "error");
        if (i >= 0) return inbox.splice(i, 1)[0]!;
        await new Promise<void>((r) => (arrived = r));
      }
    },
    end: () => socket.end(),
    seen,
    closed,
  };
}

/**
 * Open a raw connection, send `frames`, and collect what the gateway sends until it closes.
 * `answer` may send more frames in reply to each message as it arrives.
 */
export async function raw(port: number, frames: Uint8Array[], answer?: (msg: GatewayMessage) => Uint8Array[]): Promise<GatewayMessage[]> {
  const conn = await openRaw(port, answer);
  for (const f of frames) conn.send(f);
  await conn.closed;
  return conn.seen;
}

/**
 * Open a session on `conn` and end its upload at once (no rows): its id, once every end-of-stream
 * is acked. Throws on anything else, such as an error in their place.
 */
export async function emptyUpload(conn: RawConnection): Promise<string> {
  conn.send(frame({ t: "hello", v: PROTOCOL_VERSION }));
  const welcome = await conn.next("welcome");
  if (welcome.t !== "welcome") throw new Error(`expected a welcome, got ${JSON.stringify(welcome)}`);
  for (const entity of ENTITIES) conn.send(frame({ t: "eos", entity, count: 0 }));
  for (const _ of ENTITIES) {
    const ack = await conn.next("eos-ack");
    if (ack.t !== "eos-ack") throw new Error(`expected an eos-ack, got ${JSON.stringify(ack)}`);
  }
  return welcome.session;
}

/**
 * Take `n` heartbeats from `conn`, throwing at once on anything else (an error in their place);
 * true when, from the first that says the broker takes no publishes on, every one says so (the
 * gateway needs a tick to find out).
 */
export async function heldHeartbeats(conn: RawConnection, n: number): Promise<boolean> {
  const held: boolean[] = [];
  for (let i = 0; i < n; i++) {
    const m = await conn.next("heartbeat");
    if (m.t !== "heartbeat") throw new Error(`expected a heartbeat, got ${JSON.stringify(m)}`);
    held.push(m.brokerHeld === true);
  }
  const first = held.indexOf(true);
  return first >= 0 && held.slice(first).every(Boolean);
}
