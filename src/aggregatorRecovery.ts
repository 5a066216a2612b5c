/**
 * How an aggregator gets its state back at start: from its write-ahead log, or, when the log
 * fails its checks (WAL_CORRUPT: a changed byte, a missing segment, a snapshot that fails its
 * CRC), from nothing, after telling the gateway what was lost.
 *
 * Why going on is safe: a session completes only once every one of its batches was applied
 * (lineage counts, src/sessionTracker.ts). A session that had batches in the lost log can never
 * complete on the new one, so no wrong result can come out; one that had none completes exactly.
 * Why the gateway is told: the sessions that had batches there would otherwise wait for
 * --result-timeout-s (ten minutes by default) before failing. Which ones they are, the log can no
 * longer say, so the gateway fails every running session still waiting for this query's result.
 */
import { encodeMessage } from "./codec.ts";
import { AggregatorStore, type AggregatorStoreOptions } from "./aggregatorStore.ts";
import { codedMessage, WalError } from "./errors.ts";
import type { Logger } from "./log.ts";
import type { QueryReducer } from "./queries/reducer.ts";
import type { QueryName } from "./schema.ts";
import { finishSetAside, setAsideState } from "./stateSetAside.ts";
import { RESULTS_KEY } from "./topology.ts";
import type { Transport } from "./transport.ts";

/** What recovering an aggregator's state needs. */
export interface AggregatorRecoveryInput {
  /** The aggregator's own state directory (locked by the caller). */
  dir: string;
  query: QueryName;
  reducer: QueryReducer;
  /** Where the gateway is told of a lost log. */
  transport: Pick<Transport, "publish">;
  log: Logger;
  store?: AggregatorStoreOptions;
}

/** An aggregator's store as recovered, and where an unrecoverable log was moved (null: it was not). */
export interface RecoveredAggregatorStore {
  store: AggregatorStore;
  replayed: number;
  truncatedBytes: number;
  setAside: string | null;
}

/**
 * Open the log in `dir`. One that is WAL_CORRUPT is reported to the gateway (a `stateLost`
 * message, awaited until the broker confirms it), then set aside, and an empty log is opened in
 * its place. Told before the move: a crash in between finds the log corrupt again and tells
 * again, so the gateway may hear twice but never not at all. A move a crash cut short is
 * finished first (the gateway was told before it began). Any other failure is thrown: a log that
 * cannot be read now (WAL_IO_FAILED) may read tomorrow, and is never thrown away.
 */
export async function recoverAggregatorStore(input: AggregatorRecoveryInput): Promise<RecoveredAggregatorStore> {
  const { dir, query, reducer, transport, log, store: opts = {} } = input;
  const finished = finishSetAside(dir);
  if (finished) {
    log.error(`a start before this one was setting the state in ${dir} aside, after telling the gateway; the files are now all in ${finished}, and this aggregator starts on an empty log`);
    return { ...(await AggregatorStore.open(dir, reducer, opts)), setAside: finished };
  }
  try {
    return { ...(await AggregatorStore.open(dir, reducer, opts)), setAside: null };
  } catch (err) {
    if (!(err instanceof WalError) || err.code !== "WAL_CORRUPT") throw err;
    // With its code, as the gateway's log and the client say it: an operator greps for WAL_CORRUPT.
    log.error(`the write-ahead log in ${dir} cannot be recovered: ${codedMessage(err)}`);
    await transport.publish(RESULTS_KEY, encodeMessage({ kind: "stateLost", query, reason: codedMessage(err) }));
    const setAside = setAsideState(dir);
    log.error(`its files were set aside in ${setAside}; the gateway fails every running session still waiting for ${query}'s result, and this aggregator starts on an empty log`);
    return { ...(await AggregatorStore.open(dir, reducer, opts)), setAside };
  }
}
