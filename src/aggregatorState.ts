/**
 * An aggregator's whole state as a deterministic fold over the messages it accepted: per
 * session a tracker (completeness, duplicates) and the query's reducer state, plus the sessions
 * that ended. Deterministic, so the same fold rebuilds it from the write-ahead log after a crash.
 * Its only I/O is on files it owns: a reducer's spill directory per session (Q1's sorted runs),
 * created as the session grows and deleted once its end is durable (takeEndedFiles, dropFiles).
 */
import { isGatewayBound, type BrokerMessage } from "./codec.ts";
import type { ResultCut } from "./chunkLines.ts";
import { EndedSessions } from "./endedSessions.ts";
import { InternalError } from "./errors.ts";
import { existsSync, readdirSync, rmSync } from "node:fs";
import { join } from "node:path";
import type { QueryReducer, ReducerContext } from "./queries/reducer.ts";
import { SessionTracker, type TrackerSnapshot } from "./sessionTracker.ts";
import { plainToState, stateToPlain } from "./stateCodec.ts";

interface SessionState {
  tracker: SessionTracker;
  state: unknown;
  /** What its reducer was created with, handed to every apply (made once, not per batch). */
  ctx: ReducerContext;
  /** Where its result is cut into chunks, fixed before the first chunk is published. */
  cut?: ResultCut;
}

/** An open session as snapshot data: its tracker and its reducer state, both plain. */
export interface LiveSessionSnapshot {
  session: string;
  tracker: TrackerSnapshot;
  state: unknown;
  /** Absent until its result's publishing began (and in snapshots of earlier versions). */
  cutBytes?: number;
  /** "bytes" for a cut in UTF-8 bytes; absent for one in characters (snapshots of builds before the byte count). */
  cutUnit?: "bytes";
}

/** What applying one message did. */
export type ApplyEffect = "applied" | "duplicate" | "ended" | "purged" | "misrouted";

/** Counters for health status and logs. */
export interface AggregatorCounters {
  batches: number;
  duplicates: number;
  finished: number;
  purged: number;
}

/** The fold. */
export class AggregatorState {
  private readonly sessions = new Map<string, SessionState>();
  private readonly ended = new EndedSessions();
  readonly counters: AggregatorCounters = { batches: 0, duplicates: 0, finished: 0, purged: 0 };

  /**
   * `spillRoot`: a directory under which each session may keep state too large for memory (its
   * own subdirectory, deleted when the session ends); null keeps everything in memory.
   */
  constructor(private readonly reducer: QueryReducer, private readonly spillRoot: string | null = null, private readonly spillRows?: number) {}

  /** The session's directory name under the spill root. */
  private static spillName(session: string): string {
    // Session ids come from the gateway (UUIDs); anything else is kept out of the path.
    return session.replace(/[^A-Za-z0-9-]/g, "_");
  }

  private context(session: string): ReducerContext {
    return {
      spillDir: this.spillRoot === null ? null : join(this.spillRoot, AggregatorState.spillName(session)),
      ...(this.spillRows !== undefined ? { spillRows: this.spillRows } : {}),
      // Without a spill root nothing is written, and nothing would drain the list.
      ...(this.spillRoot !== null ? { wroteFile: this.noteUnsynced } : {}),
    };
  }

  /** Files reducers wrote since the last snapshot, not yet fsynced (a snapshot must not name one before it is). */
  private unsynced: string[] = [];
  private readonly noteUnsynced = (path: string): void => void this.unsynced.push(path);

  /**
   * The files written so far that no fsync covers yet, forgotten here: the caller makes them
   * durable before the snapshot of the state as it is now (src/aggregatorStore.ts).
   */
  takeUnsyncedFiles(): string[] {
    return this.unsynced.splice(0);
  }

  /**
   * Sessions ended (finished or purged) whose files are still on disk. They go only once the
   * record of that end is durable (`takeEndedFiles` before a commit, `dropFiles` after it): a
   * crash before would recover the session open, from a snapshot that lists its spilled runs.
   */
  private readonly filesToDrop: string[] = [];

  /** Ended sessions whose files wait for the commit that makes their end durable. */
  get filesAwaitingDrop(): number {
    return this.filesToDrop.length;
  }

  /** Without a spill root there are no files, and nothing to remember (no commit would drain it). */
  private noteFilesToDrop(session: string): void {
    if (this.spillRoot !== null) this.filesToDrop.push(session);
  }

  /**
   * The sessions ended so far whose files still exist, forgotten here: the caller deletes them
   * (`dropFiles`) once the commit that started after this call made their end durable. A
   * session that ends while that commit runs waits for the next one.
   */
  takeEndedFiles(): string[] {
    return this.filesToDrop.splice(0);
  }

  /** Delete the files of `sessions`, whose end is now durable. */
  dropFiles(sessions: readonly string[]): void {
    for (const session of sessions) {
      const dir = this.context(session).spillDir;
      if (dir !== null) rmSync(dir, { recursive: true, force: true });
    }
  }

  /**
   * After recovery: remove spill directories of sessions that are not open (a crash between a
   * session's end and the removal of its files, or runs written for records never logged).
   */
  removeOrphanFiles(): void {
    if (this.spillRoot === null || !existsSync(this.spillRoot)) return;
    const open = new Set([...this.sessions.keys()].map(AggregatorState.spillName));
    for (const name of readdirSync(this.spillRoot)) if (!open.has(name)) rmSync(join(this.spillRoot, name), { recursive: true, force: true });
    // Recovered ends are durable (they were read from the log): their files went just now.
    this.filesToDrop.length = 0;
  }

  /** Open sessions. */
  get size(): number {
    return this.sessions.size;
  }

  /**
   * Apply a data, eos or purge message. "duplicate", "ended" and "misrouted" (an entity this
   * query does not read: a routing mistake, which no redelivery would fix) leave the state
   * untouched: such a message must not be logged. Lineage that contradicts itself (an end of
   * stream below a batch number seen, a batch at or past its end of stream's count) throws an
   * InternalError, so the session fails rather than completing without a batch or with one too
   * many; `replaying` (the log, read at recovery) takes what is logged as it is, as the build
   * that logged it did, so that a log no later check would have let in still opens.
   */
  apply(msg: BrokerMessage, replaying = false): ApplyEffect {
    if (isGatewayBound(msg)) throw new InternalError(`${msg.kind} messages are not aggregator input`);
    if (this.ended.has(msg.session)) return "ended";
    if (msg.kind === "purge") {
      this.sessions.delete(msg.session);
      this.ended.add(msg.session);
      this.noteFilesToDrop(msg.session);
      this.counters.purged++;
      return "purged";
    }
    // Checked before a session is made for it: a stray message must not open one.
    if (!this.reducer.needs.includes(msg.entity)) return "misrouted";
    let s = this.sessions.get(msg.session);
    if (!s) {
      const ctx = this.context(msg.session);
      this.sessions.set(msg.session, (s = { tracker: new SessionTracker(this.reducer.needs), state: this.reducer.create(ctx), ctx }));
    }
    if (msg.kind === "eos") {
      s.tracker.markEos(msg.entity, msg.count, !replaying);
    } else {
      const mark = s.tracker.classify(msg.entity, msg.seq);
      if (mark === "out-of-range" && !replaying) {
        throw new InternalError(`${msg.entity} batch #${msg.seq} arrived after its end of stream counted ${s.tracker.expectedOf(msg.entity)} batches`);
      }
      if (mark !== "new") {
        this.counters.duplicates++;
        return "duplicate";
      }
      this.reducer.apply(s.state, msg, s.ctx);
      s.tracker.markData(msg.entity, msg.seq);
      this.counters.batches++;
    }
    return "applied";
  }

  /** True when the session has every batch of every entity its query needs. */
  isComplete(session: string): boolean {
    return this.sessions.get(session)?.tracker.isComplete() ?? false;
  }

  /** Sessions complete but not yet marked finished (after recovery: results still to publish). */
  completeSessions(): string[] {
    return [...this.sessions].filter(([, s]) => s.tracker.isComplete()).map(([id]) => id);
  }

  /**
   * Fix the size at which `session`'s result is cut into chunks, before its first chunk goes
   * out. The gateway knows a chunk by its index: a republish after a crash must cut the very
   * same chunks, whatever --chunk-bytes the restarted aggregator was given.
   */
  fixCut(session: string, cut: ResultCut): void {
    const s = this.sessions.get(session);
    // A session no longer open (ended since) has no result left to cut.
    if (s) s.cut = cut;
  }

  /** The cut fixed for `session`'s result, once its publishing began. */
  cutOf(session: string): ResultCut | undefined {
    return this.sessions.get(session)?.cut;
  }

  /** The result's CSV lines, lazily; does not change the state, so it can be recomputed after a crash. */
  result(session: string): Iterable<string> {
    const s = this.sessions.get(session);
    if (!s) throw new InternalError(`no state for session ${session}`);
    return this.reducer.finish(s.state);
  }

  /** The session's result is published: free its state, remember it as ended. */
  markFinished(session: string): void {
    if (this.ended.has(session)) return;
    this.sessions.delete(session);
    this.ended.add(session);
    this.noteFilesToDrop(session);
    this.counters.finished++;
  }

  /**
   * The open sessions as plain data (proportional to their distinct keys, not to the rows that
   * built them): restoring it rebuilds exactly these sessions.
   */
  liveSessions(): LiveSessionSnapshot[] {
    return [...this.sessions].map(([session, s]) => ({ session, tracker: s.tracker.export(), state: stateToPlain(s.state), ...cutFields(s.cut) }));
  }

  /** Re-open a session from its snapshot data (recovery). */
  restoreSession(snap: LiveSessionSnapshot): void {
    const state = plainToState(snap.state);
    const ctx = this.context(snap.session);
    this.sessions.set(snap.session, {
      tracker: SessionTracker.import(this.reducer.needs, snap.tracker),
      state: this.reducer.restore ? this.reducer.restore(state, ctx) : state,
      ctx,
      ...(snap.cutBytes !== undefined ? { cut: { size: snap.cutBytes, unit: snap.cutUnit ?? "chars" } } : {}),
    });
  }

  /** Ended session ids still remembered (so a snapshot keeps dropping their late messages). */
  endedSessions(): string[] {
    return this.ended.list();
  }
}

/** A cut as snapshot fields: a cut in characters is written as builds before the byte count wrote it. */
function cutFields(cut: ResultCut | undefined): Pick<LiveSessionSnapshot, "cutBytes" | "cutUnit"> {
  if (cut === undefined) return {};
  return cut.unit === "bytes" ? { cutBytes: cut.size, cutUnit: "bytes" } : { cutBytes: cut.size };
}
