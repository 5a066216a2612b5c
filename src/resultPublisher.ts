/**
 * How an aggregator hands a complete session's result to the gateway: streamed in chunks cut
 * where its first publish cut them, then logged finished. A result that cannot be produced
 * fails the session instead of being retried forever.
 */
import { chunkLines } from "./chunkLines.ts";
import { encodeMessage } from "./codec.ts";
import { crashPoint } from "./crashPoint.ts";
import type { AggregatorState } from "./aggregatorState.ts";
import type { AggregatorStore } from "./aggregatorStore.ts";
import { codedMessage, errorMessage, hasCode, isWalWriteFailure } from "./errors.ts";
import type { GroupCommit } from "./groupCommit.ts";
import type { Logger } from "./log.ts";
import type { CoffeeMetrics } from "./metrics.ts";
import type { QueryName } from "./schema.ts";
import { failSession } from "./sessionFailure.ts";
import { RESULTS_KEY } from "./topology.ts";
import type { Transport } from "./transport.ts";

/** Result chunks of one session awaiting their broker confirms at once (src/amqpTransport.ts bounds the rest). */
const RESULT_CHUNKS_IN_FLIGHT = 8;

/** What publishing results needs from the aggregator around it. */
export interface ResultPublisherDeps {
  query: QueryName;
  /** The aggregator's queue: its stage name in metrics and failure reports. */
  queue: string;
  /** Result chunks are cut once they reach this many bytes (a session cut before keeps its cut). */
  chunkBytes: number;
  state: AggregatorState;
  /** The log (null: state in memory only). */
  store: AggregatorStore | null;
  group: GroupCommit;
  transport: Pick<Transport, "publish">;
  metrics: CoffeeMetrics;
  log: Logger;
  /** The log or a spilled run failed: the aggregator must stop. */
  storageFailed(err: unknown): void;
}

/** Publishes complete sessions' results for one aggregator. */
export class ResultPublisher {
  /** Sessions failed because their result could not be produced. */
  failedSessions = 0;
  /**
   * Sessions whose result could not be produced, until the gateway's purge ends them (`forget`):
   * a duplicate of their messages must not compute and fail the result again.
   */
  private readonly failed = new Set<string>();

  constructor(private readonly deps: ResultPublisherDeps) {}

  /** The session was purged: a later session of the same id (none is expected) starts clean. */
  forget(id: string): void {
    this.failed.delete(id);
  }

  /**
   * Publish a complete session's result; a result that cannot be produced (a spilled run that
   * does not read back, say) fails the session instead. Retrying would meet the same failure
   * on every redelivery of the completing message, and block this queue for every session.
   * Only the broker going away (on shutdown; it is retried otherwise) is left to the caller.
   */
  async finish(id: string): Promise<void> {
    const { state, log, transport, queue, storageFailed } = this.deps;
    if (this.failed.has(id)) return;
    // Once more after a collection, as a worker does: the process (memory), not the data, may
    // have been what failed. Chunks published twice are dropped by the gateway (same cut).
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.publish(id);
      } catch (err) {
        if (isWalWriteFailure(err)) return storageFailed(err);
        if (hasCode(err, "BROKER_UNAVAILABLE")) throw err;
        // Finished after all (the throw came after it was marked so): nothing to try or fail.
        if (!state.isComplete(id)) return;
        if (attempt === 1) {
          log.warn(`session ${id}: its result could not be published, trying once more: ${codedMessage(err)}`);
          Bun.gc(true);
          continue;
        }
        this.failedSessions++;
        log.error(`session ${id}: its result could not be published, the session fails: ${codedMessage(err)}`);
        await failSession(transport, id, queue, `its result could not be produced: ${errorMessage(err)}`);
        // Only once the gateway was told: a failure to tell it leaves the next duplicate to try.
        this.failed.add(id);
        return;
      }
    }
  }

  /**
   * Publish a complete session's result, then log it finished. A crash in between publishes the
   * same chunks again after recovery; the gateway drops chunks it already relayed. Everything
   * logged so far (the message that completed the session, the cut) is durable before the first
   * chunk goes out.
   */
  private async publish(id: string): Promise<void> {
    const { state, store, group, transport, metrics, log, query, chunkBytes } = this.deps;
    // The gateway knows chunks by index, so a republish must cut where the first publish did.
    let cut = state.cutOf(id);
    if (cut === undefined) {
      cut = { size: chunkBytes, unit: "bytes" };
      state.fixCut(id, cut);
      store?.logCut(id, cut);
    } else if (cut.size !== chunkBytes || cut.unit !== "bytes") {
      log.info(`session ${id}: result cut at ${cut.size} ${cut.unit === "bytes" ? "bytes" : "characters"}, as when its publishing began (--chunk-bytes is ${chunkBytes})`);
    }
    await group.now();
    const started = performance.now();
    // Streamed: chunks are cut as the lines come (Q1 merges its runs from disk), one chunk held
    // back so the last can say so. At most RESULT_CHUNKS_IN_FLIGHT await their confirms: a
    // result is never in memory whole, and the event loop (heartbeats) runs between chunks.
    const publishes: Promise<void>[] = [];
    let lines = 0;
    let chunks = 0;
    let pending: string | null = null;
    const send = async (csv: string, last: boolean): Promise<void> => {
      const published = transport.publish(RESULTS_KEY, encodeMessage({ kind: "result", session: id, query, chunk: chunks++, last, csv })).then(() => crashPoint("aggregator.result-chunk-confirmed"));
      // Awaited below; marked handled now, as an earlier failure ends the loop before it is.
      published.catch(() => {});
      publishes.push(published);
      if (publishes.length >= RESULT_CHUNKS_IN_FLIGHT) await publishes.shift();
    };
    for (const chunk of chunkLines(state.result(id), cut, () => lines++)) {
      if (pending !== null) await send(pending, false);
      pending = chunk;
    }
    await send(pending ?? "", true);
    await Promise.all(publishes);
    crashPoint("aggregator.result-confirmed");
    state.markFinished(id);
    store?.logFinished(id);
    const stage = { stage: this.deps.queue };
    metrics.sessionsFinished.inc(stage);
    metrics.rowsOut.inc(stage, Math.max(0, lines - 1)); // the header is not a row
    log.info(`session ${id} complete: ${chunks} result chunk(s) in ${(performance.now() - started).toFixed(0)} ms`);
  }
}
