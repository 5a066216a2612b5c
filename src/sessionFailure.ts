/**
 * A poison message: one of a session's messages that a stage can never process (it does not
 * decode, or its operator throws on it). Requeued, it would come back forever and block the
 * queue; dropped, its session would wait forever for it. So its session is failed instead: the
 * stage tells the gateway (a `failed` message on the results queue), which ends the session
 * with PIPELINE_FAILED and purges it everywhere, and the message is acked.
 */
import { encodeMessage, sessionOfUndecodable } from "./codec.ts";
import { crashPoint } from "./crashPoint.ts";
import type { Logger } from "./log.ts";
import { RESULTS_KEY } from "./topology.ts";
import type { Transport } from "./transport.ts";

/** Tell the gateway `session` failed at `stage`; resolves once the broker confirmed it. */
export async function failSession(transport: Pick<Transport, "publish">, session: string, stage: string, reason: string): Promise<void> {
  await transport.publish(RESULTS_KEY, encodeMessage({ kind: "failed", session, reason: `${stage}: ${reason}` }));
  crashPoint("stage.failed-published");
}

/**
 * A delivery that does not decode: its session (when its envelope still names one) is failed.
 * Either way the caller acks it: no retry can make it decode.
 */
export async function failUndecodable(transport: Pick<Transport, "publish">, body: Uint8Array, stage: string, why: string, log: Logger): Promise<void> {
  const session = sessionOfUndecodable(body);
  log.error(`dropping undecodable message${session ? ` of session ${session} (the session fails)` : " (no session named in it)"}: ${why}`);
  if (session) await failSession(transport, session, stage, `a message could not be decoded: ${why}`);
}
