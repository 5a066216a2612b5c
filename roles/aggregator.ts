/**
 * Aggregator role: the final stage of one query. Folds each session's batches into the query's
 * state (src/aggregatorState.ts), ignores duplicates by lineage, and once every batch of every
 * needed entity arrived, publishes the result in chunks (src/resultPublisher.ts) and frees the
 * session. Each accepted message is write-ahead logged and acked only once the log is durable
 * (group commit), so a SIGKILL anywhere loses nothing and counts nothing twice. A log that no longer recovers is set
 * aside after the gateway was told (src/aggregatorRecovery.ts).
 */
import { decodeMessage, isGatewayBound, type BrokerMessage } from "../src/codec.ts";
import type { Command } from "../src/command.ts";
import { createLogger, type Logger } from "../src/log.ts";
import { CoffeeMetrics } from "../src/metrics.ts";
import { bodyRows } from "../src/bodies.ts";
import { int, str, type OptionSpec } from "../src/options.ts";
import { REDUCERS } from "../src/queries/index.ts";
import { Q1_RUN_ID_CHARS, Q1_RUN_ROWS } from "../src/queries/q1.ts";
import type { QueryReducer } from "../src/queries/reducer.ts";
import { COMMON_OPTIONS, commonConfig, runRoleProcess, type RoleInstance } from "../src/roleRuntime.ts";
import { QUERIES, type QueryName } from "../src/schema.ts";
import { aggregatorOf } from "../src/topology.ts";
import { ResultPublisher } from "../src/resultPublisher.ts";
import { AggregatorState, type ApplyEffect } from "../src/aggregatorState.ts";
import type { AggregatorStore } from "../src/aggregatorStore.ts";
import { recoverAggregatorStore } from "../src/aggregatorRecovery.ts";
import { errorMessage, isWalWriteFailure } from "../src/errors.ts";
import { failSession, failUndecodable } from "../src/sessionFailure.ts";
import { GroupCommit } from "../src/groupCommit.ts";
import { warningOfSlowFsyncs } from "../src/slowFsyncWarning.ts";
import { crashPoint } from "../src/crashPoint.ts";
import { exitOnFatal, FatalStop, type OnFatal } from "../src/fatal.ts";
import type { Consumer, Delivery, Transport } from "../src/transport.ts";
import { join } from "node:path";
import { lockStateDir } from "../src/stateDirLock.ts";

/** Aggregator options, compiled. */
export interface AggregatorConfig {
  query: QueryName;
  prefetch: number;
  /** Result chunks are cut once they reach this many bytes. */
  chunkBytes: number;
  /** Directory of the write-ahead log; null keeps state in memory only (in-process clusters). */
  stateDir: string | null;
  /** Q1 rows a session keeps in memory before they go to disk as a sorted run (with a state dir); default Q1_RUN_ROWS. */
  spillRows?: number;
}

/** What an aggregator runs with besides its options, its transport and its log. */
export interface AggregatorRuntime {
  /** Where its batches, rows, sessions and log fsyncs are counted. */
  metrics?: CoffeeMetrics;
  /**
   * Told a failure of the log or a spilled run (src/fatal.ts): the command's exits 70. The
   * aggregator then halts (see halt() in createAggregator) and its run() rejects with the failure.
   */
  onFatal?: OnFatal;
}

/** Create an aggregator on a transport; with `stateDir`, its state is write-ahead logged there. */
export async function createAggregator(cfg: AggregatorConfig, transport: Transport, log: Logger, runtime: AggregatorRuntime = {}): Promise<RoleInstance> {
  const { metrics = new CoffeeMetrics({ role: "aggregator", name: `agg-${cfg.query}` }), onFatal = () => {} } = runtime;
  const reducer: QueryReducer = REDUCERS[cfg.query];
  const spec = aggregatorOf(cfg.query);
  const stage = { stage: spec.queue };
  let store: AggregatorStore | null = null;
  let state: AggregatorState;
  /** Where this start set an unrecoverable log aside (src/aggregatorRecovery.ts), for status. */
  let setAside: string | null = null;
  if (cfg.stateDir) {
    const opened = await recoverAggregatorStore({ dir: cfg.stateDir, query: cfg.query, reducer, transport, log, store: { onFsync: warningOfSlowFsyncs(metrics.onFsync, log), ...(cfg.spillRows !== undefined ? { spillRows: cfg.spillRows } : {}) } });
    store = opened.store;
    setAside = opened.setAside;
    state = store.state;
    log.info(`recovered ${opened.replayed} log records (${state.size} open sessions${opened.truncatedBytes ? `, ${opened.truncatedBytes} torn bytes dropped` : ""}) from ${cfg.stateDir}`);
    crashPoint("aggregator.recovered");
    // A log whose sessions all ended (or one past its compaction size) is compacted now, not
    // replayed again at every start until some session completes here.
    if (await store.maybeSnapshot()) log.info("log compacted into a snapshot at start");
  } else state = new AggregatorState(reducer);
  metrics.sessionsOpen.track(stage, () => state.size);
  let malformed = 0;
  /** Sessions failed because a message of theirs could not be applied (a poison message). */
  let unappliable = 0;
  let consumer: Consumer | null = null;
  let shuttingDown: Promise<void> | null = null;
  let done: () => void = () => {};
  const finished = new Promise<void>((r) => (done = r));
  /** A failed write or fsync of the log or a spilled run leaves what is durable unknown: stop, and let the supervisor restart us. */
  const fatal = new FatalStop(onFatal, halt);
  const storageFailed = (err: unknown): void => fatal.fail(err);
  const group = new GroupCommit(() => store?.commit() ?? Promise.resolve(), storageFailed);
  const results = new ResultPublisher({ query: cfg.query, queue: spec.queue, chunkBytes: cfg.chunkBytes, state, store, group, transport, metrics, log, storageFailed });

  /**
   * Stop after a storage failure, in-process, as the process would have by exiting: nothing more
   * is applied, committed, acked or published. The consumer is cancelled (what it had not acked
   * stays unacked, and returns to the queue once the caller closes the transport, as when a
   * process exits), and the log is closed; a message being handled stops at its next commit,
   * which never comes. run() rejects with the failure; shutdown() has nothing left to do.
   */
  function halt(): void {
    group.stop();
    shuttingDown ??= Promise.resolve();
    void consumer?.cancel().catch(() => {});
    void store?.close().catch(() => {});
  }

  async function handle(d: Delivery): Promise<void> {
    let msg: BrokerMessage;
    try {
      msg = decodeMessage(d.body);
    } catch (err) {
      // A message nobody can decode would loop forever if requeued: its session fails instead.
      malformed++;
      await failUndecodable(transport, d.body, spec.queue, errorMessage(err), log);
      return void d.ack();
    }
    if (isGatewayBound(msg)) {
      malformed++;
      log.error(`dropping a ${msg.kind} message that was routed to ${spec.queue}`);
      return void d.ack();
    }
    let effect: ApplyEffect;
    const openBefore = state.size;
    try {
      effect = state.apply(msg);
    } catch (err) {
      // A spilled run could not be written: as with the log, what is durable is unknown.
      if (isWalWriteFailure(err)) return storageFailed(err);
      // Anything else is the reducer failing on this message, as it would on every redelivery:
      // the session fails (the gateway purges it, which drops what this message left behind).
      // Not retried, unlike a worker's pure operators: the reducer may have changed part of the
      // session's state before it threw, and applying the message again would count that twice.
      // Only this session's state is touched, and the session ends.
      unappliable++;
      log.error(`session ${msg.session}: cannot apply ${msg.kind}${msg.kind === "data" ? ` ${msg.entity}#${msg.seq}` : ""}, the session fails: ${errorMessage(err)}`);
      await failSession(transport, msg.session, spec.queue, `${msg.kind === "data" ? `${msg.entity} batch #${msg.seq}` : msg.kind} could not be applied: ${errorMessage(err)}`);
      return void d.ack();
    }
    if (effect === "misrouted") {
      malformed++;
      log.error(`dropping ${msg.kind} of ${msg.kind === "purge" ? "" : msg.entity} for session ${msg.session}: not an input of ${cfg.query} (misrouted)`);
      return void d.ack();
    }
    if (effect === "applied" || effect === "purged") store?.logMessage(d.body);
    if (effect === "applied") crashPoint("aggregator.applied");
    if (effect === "applied" && msg.kind === "data") metrics.stageDone(spec.queue, msg.entity, bodyRows(msg.bodyKind, msg.body), 0);
    if (effect === "purged") {
      // The gateway counted why (its cause label); here a purge is always its word.
      metrics.sessionsPurged.inc({ ...stage, cause: "GATEWAY_PURGE" });
      results.forget(msg.session);
      log.info(`session ${msg.session} purged (${msg.kind === "purge" ? msg.reason : ""})`);
    }
    if (effect === "duplicate") {
      metrics.duplicatesDropped.inc(stage);
      // Expected, not a fault: a batch comes again after any crash or lost channel between its
      // publish and its ack (at-least-once delivery; this is where it becomes exactly-once).
      log.info(`session ${msg.session}: duplicate batch ${msg.kind === "data" ? `${msg.entity}#${msg.seq}` : ""} ignored (delivered again after a crash or a lost channel)`);
    }
    // Checked after every message, duplicates included: if publishing a result failed, the
    // redelivered last message (now a duplicate) is what retries it.
    if (msg.kind !== "purge" && state.isComplete(msg.session)) {
      await results.finish(msg.session);
      await group.now();
      crashPoint("aggregator.finished-durable");
      d.ack();
      if (store && (await store.maybeSnapshot().catch(storageFailed))) log.info("log compacted into a snapshot");
      return;
    }
    if (!store) return void d.ack();
    group.after(() => d.ack());
    // Sessions that overlap may keep one open at all times: the log is compacted by its size
    // too, not only when a session completes, so recovery never reads an unbounded log. A purge
    // that closes the last open session compacts it as a completion does: the aggregator may
    // then sit idle for hours, its log holding every record of the sessions that ended. (Not a
    // purge of a session never held here: a burst of those would snapshot once each.)
    if (store.snapshotDue || (effect === "purged" && openBefore > 0 && state.size === 0)) {
      await group.now();
      if (await store.maybeSnapshot().catch(storageFailed)) log.info("log compacted into a snapshot");
    }
  }

  /** The delivery being handled (the consumer is serial), for shutdown to wait on. */
  let handling: Promise<void> = Promise.resolve();
  /**
   * After shutdown began, deliveries already queued in the consumer are left unacknowledged (the
   * broker gives them again): handling one would write to a log that is closing.
   */
  const handleUnlessStopping = (d: Delivery): Promise<void> => {
    if (shuttingDown) return Promise.resolve();
    const running = handle(d);
    handling = running.catch(() => {});
    return running;
  };
  /** Publish what recovery left complete, then consume until shut down. */
  async function serve(): Promise<void> {
    // Sessions whose last batch was logged but whose result was not yet published; a stop
    // meanwhile waits for the one being published, like for a delivery being handled.
    const republished = (async () => {
      for (const id of state.completeSessions()) {
        if (shuttingDown) return;
        await results.finish(id);
      }
      await group.now();
    })();
    handling = republished.catch(() => {});
    await republished;
    // Stopped meanwhile: return once the stop is over (the log closed), not before.
    if (shuttingDown) return void (await shuttingDown);
    consumer = await transport.consume(spec.queue, { prefetch: cfg.prefetch, concurrent: false }, handleUnlessStopping);
    log.info(`aggregator ${cfg.query} consuming ${spec.queue}`);
    await finished;
  }

  return {
    run: () => fatal.orFailure(serve()),
    shutdown() {
      // Once: a second call would commit to a closed log, which the group commit takes as fatal.
      // A storage failure meanwhile halts the aggregator, which ends its shutdown too.
      shuttingDown ??= fatal.orHalt((async () => {
        await consumer?.cancel();
        // A session being finished (its result publishing) is finished before the log closes.
        await handling;
        await group.now();
        await store?.close();
        done();
      })());
      return shuttingDown;
    },
    status: () => ({ query: cfg.query, sessions: state.size, malformed, failedSessions: unappliable + results.failedSessions, ...state.counters, ...(store ? { durableLsn: store.durableLsn } : {}), ...(setAside ? { setAside } : {}) }),
  };
}

/** An aggregator's prefetch and chunk size: coffee up reads them from its environment for in-process aggregators too. */
export const AGGREGATOR_TUNING_OPTIONS: readonly OptionSpec[] = [
  { name: "prefetch", type: "int", env: "COFFEE_PREFETCH", default: 128, min: 1, max: 10000, help: "unacked batches in flight" },
  { name: "chunk-bytes", type: "int", env: "COFFEE_CHUNK_BYTES", default: 256 * 1024, min: 1024, max: 4 * 1024 * 1024, help: "UTF-8 bytes at which result chunks are cut (a chunk ends with the line that reaches them; at most 4 Mi, so a chunk stays under the broker's 16 MiB message limit even when that line holds a longest field)" },
];

const OPTIONS: readonly OptionSpec[] = [
  { name: "query", type: "enum", env: "COFFEE_QUERY", required: true, choices: QUERIES, help: "the query this aggregator finishes" },
  AGGREGATOR_TUNING_OPTIONS[0]!,
  { name: "state-dir", type: "string", env: "COFFEE_STATE_DIR", default: "./state", help: "write-ahead log and snapshots go to STATE-DIR/<name>/" },
  AGGREGATOR_TUNING_OPTIONS[1]!,
  { name: "spill-rows", type: "int", env: "COFFEE_SPILL_ROWS", default: Q1_RUN_ROWS, min: 1, max: 10_000_000, help: `q1 only: rows of a session kept in memory before they are written to STATE-DIR as one sorted run, merged at the end (also cut at ${Q1_RUN_ID_CHARS / 1_048_576} Mi characters of ids); lower holds less memory per session and writes more files` },
  ...COMMON_OPTIONS,
];

/** `coffee --role aggregator`. */
export const aggregatorCommand: Command = {
  name: "aggregator",
  usage: "coffee --role aggregator --query q1|q2|q3|q4 [options]",
  description: "Finishes one query per session: merges partial results, joins dimensions, emits result chunks.",
  options: OPTIONS,
  async run(values) {
    const query = str(values, "query") as QueryName;
    const common = commonConfig(values, `agg-${query}`);
    const log = createLogger(common.name);
    const stateDir = join(str(values, "state-dir"), common.name);
    // Before anything reads the log: a second process on it would corrupt it.
    const lock = lockStateDir(stateDir);
    if (!lock.locked) log.warn(`state directory ${stateDir} is not locked against a second process: ${lock.unlockedBecause}`);
    try {
      return await runRoleProcess("aggregator", common, log, (t, metrics) =>
        createAggregator({ query, prefetch: int(values, "prefetch"), chunkBytes: int(values, "chunk-bytes"), stateDir, spillRows: int(values, "spill-rows") }, t, log, { metrics, onFatal: exitOnFatal(log, "write-ahead log or spilled run") }));
    } finally {
      lock.release();
    }
  },
};
