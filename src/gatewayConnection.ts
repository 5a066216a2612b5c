/** The client's side of a gateway TCP connection: framed, decoded messages in; messages out. */
import type { Socket } from "bun";
import { CoffeeError, errorMessage } from "./errors.ts";
import { FrameDecoder, writeFrame } from "./frame.ts";
import { joinHostPort } from "./hostPort.ts";
import { decodeGatewayMessage, encodeProtocolTransient, type ClientMessage, type GatewayMessage } from "./protocol.ts";
import { SocketWriter } from "./socketWriter.ts";

/** Handlers for what the gateway sends. */
export interface ConnectionEvents {
  /** Bytes arrived, whether or not they complete a frame (the peer is alive). */
  received(): void;
  message(msg: GatewayMessage): void;
  /** The connection ended (err = why, when abnormal). */
  closed(err: Error | null): void;
  /**
   * What the gateway sent could not be handled: bytes that do not decode, or a `message` handler
   * that threw (an unwritable output file, say). Reconnecting would only meet it again, so this
   * is final; `closed` follows.
   */
  failed(err: Error): void;
}

/** How long closing waits for a gateway that takes none of the bytes still queued for it. */
const CLOSE_STALL_MS = 5_000;

/** An open connection to a gateway. */
export class GatewayConnection {
  private constructor(private readonly writer: SocketWriter, private readonly state: { muted: boolean }) {}

  /** Connect to host:port; a refused or failed connection is GATEWAY_UNREACHABLE. */
  static async open(host: string, port: number, maxFrameBytes: number, events: ConnectionEvents): Promise<GatewayConnection> {
    const decoder = new FrameDecoder(maxFrameBytes);
    let writer: SocketWriter | null = null;
    let ended = false;
    const state = { muted: false };
    const end = (err: Error | null): void => {
      if (ended) return;
      ended = true;
      writer?.close();
      if (!state.muted) events.closed(err);
    };
    let socket: Socket<undefined>;
    try {
      socket = await Bun.connect<undefined>({
        hostname: host,
        port,
        socket: {
          data(s, data) {
            if (state.muted) return;
            events.received();
            try {
              for (const f of decoder.push(data)) {
                if (state.muted) return;
                events.message(decodeGatewayMessage(f));
              }
            } catch (err) {
              if (state.muted) return;
              events.failed(err instanceof Error ? err : new CoffeeError("PROTOCOL_VIOLATION", errorMessage(err)));
              s.end();
            }
          },
          drain() {
            writer?.drain();
          },
          close() {
            end(null);
          },
          error(_s, err) {
            end(err);
          },
        },
      });
    } catch (err) {
      // A gateway listens only once its broker answers.
      throw new CoffeeError("GATEWAY_UNREACHABLE", `cannot reach the gateway at ${joinHostPort(host, port)}: ${errorMessage(err)} (is coffee up, or a gateway, running there, and has it reached its broker? --gateway names its address)`);
    }
    writer = new SocketWriter(socket, 4 << 20);
    return new GatewayConnection(writer, state);
  }

  /** Send a message (queued if the socket is busy). */
  send(msg: ClientMessage): void {
    writeFrame(this.writer, encodeProtocolTransient(msg));
  }

  /** Resolves when the outgoing backlog is small enough to send more. */
  ready(): Promise<void> {
    return this.writer.ready();
  }

  /**
   * Leave the connection at once, and hear nothing more from it (no message, no `closed`): for a
   * gateway gone silent, whose connection the client replaces by a new one.
   */
  drop(): void {
    this.state.muted = true;
    this.writer.abort();
  }

  /** Close the connection once what is queued (a last `bye`) is written, or 5 s have passed. */
  close(): void {
    void this.writer.end(CLOSE_STALL_MS);
  }
}
