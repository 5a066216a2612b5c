/**
 * Rendering of the client's progress: one bar per entity and a results line on a TTY, plain log
 * lines otherwise, and the final summary. Pure: a view of the counters, a width and a clock
 * reading go in, lines of text come out, so every layout is testable without a terminal
 * (src/progress.ts does the timing and the writing).
 */

/** Where an entity's stream stands. */
export type EntityPhase = "waiting" | "sending" | "acking" | "done";

/** One entity's counters as the client keeps them; times are clock readings in ms. */
export interface EntityView {
  name: string;
  /** Bytes of all the entity's files; null when unknown (then no percentage and no ETA). */
  totalBytes: number | null;
  /** Bytes of the entity's files up to the rows sent so far: the progress estimate, since rows are not known up front. */
  bytesSent: number;
  rowsSent: number;
  rowsAcked: number;
  rejected: number;
  phase: EntityPhase;
  /** When the first batch went out (null: not yet). */
  startedMs: number | null;
  /** When the gateway had confirmed every batch and the end of stream (null: not yet). */
  doneMs: number | null;
}

/** One query's result file as its chunks arrive. */
export interface QueryView {
  name: string;
  /** Distinct chunks received so far. */
  chunks: number;
  /** When the file became complete (null: not yet). */
  completeMs: number | null;
}

/** Everything the progress display shows. */
export interface ProgressView {
  /** Session id once welcomed (null: still connecting). */
  session: string | null;
  /** Clock reading of the session start; elapsed times and query completion times count from it. */
  startedMs: number;
  entities: readonly EntityView[];
  queries: readonly QueryView[];
  /** The gateway's last heartbeat said the broker takes no publishes: nothing moves until it does. */
  brokerHeld?: boolean;
  /** The gateway connection was lost and the session is being resumed until `deadlineMs` (clock reading). */
  resuming?: { deadlineMs: number } | null;
}

/** The log line while the broker takes no publishes (the header says it shorter: BROKER_HELD_SHORT). */
const BROKER_HELD = "the broker takes no publishes (down or unreachable? a memory or disk alarm? quorum queues without their majority?), waiting; nothing is lost";
/** Fits an 80-column header beside the session and elapsed time; names no cause, since an outage, an alarm and a lost quorum majority look the same from here. */
const BROKER_HELD_SHORT = "broker takes no publishes, waiting";

/** `1234567` → `"1,234,567"`; fixed separators so output does not depend on the locale. */
export function formatCount(n: number): string {
  const sign = n < 0 ? "-" : "";
  return sign + String(Math.round(Math.abs(n))).replace(/\B(?=(\d{3})+(?!\d))/g, ",");
}

/** `45678` → `"45.7k"`: three significant digits at most, for narrow layouts. */
export function formatCompact(n: number): string {
  let v = Math.abs(n);
  const units = ["", "k", "M", "G", "T"];
  let u = 0;
  // Step up a unit when rounding would print four digits (999_960 is "1.0M", not "1000k").
  while (u < units.length - 1 && (u === 0 ? Math.round(v) : Number(v.toFixed(v < 100 ? 1 : 0))) >= 1000) {
    v /= 1000;
    u++;
  }
  const text = u === 0 ? String(Math.round(v)) : v.toFixed(v < 100 ? 1 : 0);
  return `${n < 0 ? "-" : ""}${text}${units[u]}`;
}

/** A duration for ETAs and elapsed times: `"42s"`, `"3m05s"`, `"2h07m"`; `"?"` when not a finite, non-negative number. */
export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return "?";
  const s = Math.round(seconds);
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, "0")}s`;
  if (s >= 100 * 3600) return ">99h";
  return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, "0")}m`;
}

/** Eighth blocks, so a 20-cell bar still moves every 0.6 %. */
const PARTIAL = ["", "▏", "▎", "▍", "▌", "▋", "▊", "▉"] as const;
const FULL = "█";
const EMPTY = "░";

/**
 * A bar of exactly `width` cells filled to `fraction` (clamped to 0..1). A null fraction (total
 * unknown) draws a block bouncing with the clock, so a live stream still looks alive.
 */
export function renderBar(fraction: number | null, width: number, nowMs = 0): string {
  if (width <= 0) return "";
  if (fraction === null) {
    const block = Math.min(3, width);
    const span = width - block;
    const step = span === 0 ? 0 : Math.floor(nowMs / 120) % (2 * span);
    const at = step <= span ? step : 2 * span - step;
    return EMPTY.repeat(at) + FULL.repeat(block) + EMPTY.repeat(span - at);
  }
  const f = Number.isFinite(fraction) ? Math.min(1, Math.max(0, fraction)) : 0;
  const eighths = Math.floor(f * width * 8);
  const full = Math.floor(eighths / 8);
  const part = full < width ? PARTIAL[eighths % 8]! : "";
  return FULL.repeat(full) + part + EMPTY.repeat(width - full - (part ? 1 : 0));
}

/** Share of the entity's bytes sent, or null when the total is unknown. */
export function entityFraction(e: EntityView): number | null {
  if (e.phase === "done" || e.phase === "acking") return 1;
  if (e.totalBytes === null) return null;
  if (e.totalBytes <= 0) return e.phase === "waiting" ? 0 : 1;
  return Math.min(1, e.bytesSent / e.totalBytes);
}

/** Seconds an entity has been (or was) streaming; null before it started. */
function activeSeconds(e: EntityView, nowMs: number): number | null {
  if (e.startedMs === null) return null;
  return Math.max(0, ((e.doneMs ?? nowMs) - e.startedMs) / 1000);
}

/** Rates over less than this are noise (the first window of batches goes out at once). */
const MIN_RATE_SECONDS = 0.5;
/** A finished entity's rate is over all of it, so only a time too short to measure is left out. */
const MIN_DONE_RATE_SECONDS = 0.05;

/** Rows acknowledged per second since the entity started; null while too early to say. */
export function entityRate(e: EntityView, nowMs: number): number | null {
  const s = activeSeconds(e, nowMs);
  if (s === null || s < (e.phase === "done" ? MIN_DONE_RATE_SECONDS : MIN_RATE_SECONDS)) return null;
  return e.rowsAcked / s;
}

/**
 * Seconds until the entity is all sent, from its byte rate so far; null when unknown (no total,
 * too early, nothing sent yet). Average over the whole entity: steadier than a short window and
 * the broker's pace is what sets it anyway.
 */
export function entityEta(e: EntityView, nowMs: number): number | null {
  if (e.phase !== "sending" || e.totalBytes === null || e.bytesSent <= 0) return null;
  const s = activeSeconds(e, nowMs);
  if (s === null || s < MIN_RATE_SECONDS) return null;
  return Math.max(0, e.totalBytes - e.bytesSent) / (e.bytesSent / s);
}

/** Whole-run ETA: bytes left in all entities at the byte rate since the first entity started. */
function overallEta(view: ProgressView, nowMs: number): number | null {
  let total = 0;
  let sent = 0;
  let first: number | null = null;
  for (const e of view.entities) {
    if (e.totalBytes === null) return null;
    total += e.totalBytes;
    sent += e.phase === "acking" || e.phase === "done" ? e.totalBytes : Math.min(e.bytesSent, e.totalBytes);
    if (e.startedMs !== null && (first === null || e.startedMs < first)) first = e.startedMs;
  }
  if (first === null || sent <= 0) return null;
  const s = (nowMs - first) / 1000;
  if (s < MIN_RATE_SECONDS) return null;
  return Math.max(0, total - sent) / (sent / s);
}

/** Cut a line to fit `width` columns, leaving the last one free so the terminal never wraps it. */
export function fitLine(line: string, width: number): string {
  const max = Math.max(1, width - 1);
  // Array.from counts code points: the bar glyphs are one column each but must not be split.
  const chars = Array.from(line);
  return chars.length <= max ? line : chars.slice(0, max - 1).join("") + "…";
}

/** Longest entity name, so bars line up. */
function nameWidth(view: ProgressView): number {
  return view.entities.reduce((w, e) => Math.max(w, e.name.length), 0);
}

/** How much wording fits: "full" at 100 columns and up, "compact" on common 80-column terminals. */
type Level = "full" | "compact";

/**
 * The cells after an entity's bar, one per column so the frame can align them across entities:
 * sent, acked, rows/s, state (ETA, acking, ✓ time), rejected. Null for an entity still waiting.
 */
function entityCells(e: EntityView, nowMs: number, level: Level): string[] | null {
  if (e.phase === "waiting") return null;
  const rate = entityRate(e, nowMs);
  const full = level === "full";
  let state = "";
  if (e.phase === "done") state = `✓ ${(activeSeconds(e, nowMs) ?? 0).toFixed(1)}s`;
  else if (e.phase === "acking") state = full ? "awaiting acks" : "acks…";
  else if (e.totalBytes !== null) {
    const eta = entityEta(e, nowMs);
    state = `ETA ${eta === null ? "?" : formatDuration(eta)}`;
  }
  if (full) {
    return [
      `${formatCount(e.rowsSent)} sent`, `${formatCount(e.rowsAcked)} acked`, `${rate === null ? "-" : formatCount(rate)} rows/s`,
      state, e.rejected > 0 ? `${formatCount(e.rejected)} rejected` : "",
    ];
  }
  return [`${formatCompact(e.rowsAcked)}/${formatCompact(e.rowsSent)}`, `${rate === null ? "-" : formatCompact(rate)}/s`, state, e.rejected > 0 ? `${formatCompact(e.rejected)} rej` : ""];
}

/** Columns of the cells that hold numbers, aligned right; the others align left. */
const RIGHT_ALIGNED: Record<Level, number> = { full: 3, compact: 2 };

/** Every entity's cells at `level` padded into aligned columns and joined; "waiting" for those not started. */
function entityTexts(entities: readonly EntityView[], nowMs: number, level: Level): string[] {
  const cells = entities.map((e) => entityCells(e, nowMs, level));
  const widths: number[] = [];
  for (const row of cells) row?.forEach((c, i) => { widths[i] = Math.max(widths[i] ?? 0, Array.from(c).length); });
  const sep = level === "full" ? "  " : " ";
  return cells.map((row) => {
    if (row === null) return "waiting";
    const padded = row.map((c, i) => {
      const pad = " ".repeat(Math.max(0, (widths[i] ?? 0) - Array.from(c).length));
      return i < RIGHT_ALIGNED[level] ? pad + c : c + pad;
    });
    // Empty trailing columns (no rejects anywhere) leave only separators: drop them.
    return padded.join(sep).trimEnd();
  });
}

/** `"31%"`, or `"?"` without a total. */
function percent(fraction: number | null): string {
  return fraction === null ? "?" : `${Math.floor(fraction * 100)}%`;
}

const MIN_BAR = 8;
const MAX_BAR = 30;

/**
 * One line per entity: name, bar, percentage, counts. Bars share one width and the counts line up
 * in columns; as the terminal narrows the bar shrinks first, then the wording gets compact, then
 * the bar goes and lines are cut.
 */
export function renderEntityLines(entities: readonly EntityView[], width: number, nowMs: number): string[] {
  const nameW = entities.reduce((w, e) => Math.max(w, e.name.length), 0);
  const avail = Math.max(1, width - 1);
  const head = (e: EntityView): { name: string; fraction: number | null; pct: string } => {
    const fraction = entityFraction(e);
    return { name: e.name.padEnd(nameW), fraction, pct: percent(fraction).padStart(4) };
  };
  for (const level of ["full", "compact"] as const) {
    const texts = entityTexts(entities, nowMs, level);
    const textW = texts.reduce((w, t) => Math.max(w, Array.from(t).length), 0);
    const barW = Math.min(MAX_BAR, avail - (nameW + 1 + 1 + 4 + 2 + textW));
    if (barW < MIN_BAR) continue;
    return entities.map((e, i) => {
      const h = head(e);
      return `${h.name} ${renderBar(h.fraction, barW, nowMs)} ${h.pct}  ${texts[i]!}`;
    });
  }
  const texts = entityTexts(entities, nowMs, "compact");
  return entities.map((e, i) => {
    const h = head(e);
    return fitLine(`${h.name} ${h.pct}  ${texts[i]!}`, width);
  });
}

/** The results line: each query's chunks so far and a ✓ with its time once complete. */
export function renderQueriesLine(view: ProgressView, width: number): string {
  const full = view.queries.map((q) =>
    q.completeMs !== null
      ? `${q.name} ✓ ${q.chunks} chunk${q.chunks === 1 ? "" : "s"} ${((q.completeMs - view.startedMs) / 1000).toFixed(1)}s`
      : q.chunks > 0 ? `${q.name} ${q.chunks} chunk${q.chunks === 1 ? "" : "s"}…` : `${q.name} -`);
  const line = `results  ${full.join("  ")}`;
  if (Array.from(line).length <= width - 1) return line;
  // Without the chunk counts the completion times still fit 80 columns.
  const medium = `results  ${view.queries.map((q) =>
    q.completeMs !== null ? `${q.name} ✓ ${((q.completeMs - view.startedMs) / 1000).toFixed(1)}s` : q.chunks > 0 ? `${q.name} ${q.chunks}…` : `${q.name} -`).join("  ")}`;
  if (Array.from(medium).length <= width - 1) return medium;
  const compact = view.queries.map((q) => (q.completeMs !== null ? `${q.name}✓` : q.chunks > 0 ? `${q.name}:${q.chunks}` : `${q.name}-`));
  return fitLine(`results ${compact.join(" ")}`, width);
}

/** Header: session, elapsed, totals, overall rate and ETA (or what the run is waiting for). */
function renderHeader(view: ProgressView, width: number, nowMs: number): string {
  const elapsed = (nowMs - view.startedMs) / 1000;
  if (view.session === null) return fitLine(`connecting to the gateway…  ${elapsed.toFixed(1)}s`, width);
  let sent = 0;
  let acked = 0;
  let first: number | null = null;
  for (const e of view.entities) {
    sent += e.rowsSent;
    acked += e.rowsAcked;
    if (e.startedMs !== null && (first === null || e.startedMs < first)) first = e.startedMs;
  }
  const sending = view.entities.some((e) => e.phase === "waiting" || e.phase === "sending");
  const rateSeconds = first === null ? 0 : (nowMs - first) / 1000;
  // [text, priority]: on a narrow terminal the lowest priorities go first, whole, not cut mid-word.
  const parts: [string, number][] = [[`session ${view.session.slice(0, 8)}`, 5], [`${elapsed.toFixed(1)}s`, 4], [`${formatCount(sent)} rows sent`, 2]];
  if (rateSeconds >= MIN_RATE_SECONDS) parts.push([`${formatCount(acked / rateSeconds)} rows/s`, 1]);
  const resultsPending = view.queries.some((q) => q.completeMs === null);
  if (view.resuming) {
    parts.push([`gateway lost, resuming (${Math.max(0, Math.ceil((view.resuming.deadlineMs - nowMs) / 1000))}s left)`, 3]);
  } else if (view.brokerHeld && (sending || resultsPending)) {
    parts.push([BROKER_HELD_SHORT, 3]);
  } else if (sending) {
    const eta = overallEta(view, nowMs);
    parts.push([`ETA ${eta === null ? "?" : formatDuration(eta)}`, 3]);
  } else if (resultsPending) {
    parts.push([view.entities.every((e) => e.phase === "done") ? "all sent, waiting for results" : "all sent, awaiting acks", 3]);
  }
  const text = (): string => parts.map(([t]) => t).join("  ");
  while (parts.length > 1 && Array.from(text()).length > width - 1) {
    const lowest = parts.reduce((min, p, i) => (p[1] < parts[min]![1] ? i : min), 0);
    parts.splice(lowest, 1);
  }
  return fitLine(text(), width);
}

/** The whole TTY frame: header, one line per entity, the results line (only the header while connecting); every line shorter than `width`. */
export function renderFrame(view: ProgressView, width: number, nowMs: number): string[] {
  // Until the gateway answers there is nothing to show but that: a failed connect leaves one line, not a wall of empty bars.
  if (view.session === null) return [renderHeader(view, width, nowMs)];
  const lines = [
    renderHeader(view, width, nowMs),
    ...renderEntityLines(view.entities, width - 2, nowMs).map((l) => `  ${l}`),
    `  ${renderQueriesLine(view, width - 2)}`,
  ];
  // The indent can push a line over on absurdly narrow terminals; a wrapped line would break the redraw.
  return lines.map((l) => fitLine(l, width));
}

/**
 * The bytes that replace the previous frame of `previousLines` lines with `lines`, cursor left at
 * the end of the last line. Each line is erased before it is written and the rest of the screen
 * after, so a shorter frame leaves no stale text behind.
 */
export function redrawFrame(previousLines: number, lines: readonly string[]): string {
  const up = previousLines > 1 ? `\x1b[${previousLines - 1}A` : "";
  return `\r${up}${lines.map((l) => `\x1b[2K${l}`).join("\n")}\x1b[J`;
}

/** `[12.0s] ` prefix of log lines: seconds since the session start. */
export function stamp(view: ProgressView, nowMs: number): string {
  return `[${((nowMs - view.startedMs) / 1000).toFixed(1)}s] `;
}

/** One plain log line for an entity (no bar, no terminal codes). */
export function renderEntityLog(e: EntityView, nowMs: number): string {
  const rate = entityRate(e, nowMs);
  const rateText = rate === null ? "" : `, ${formatCount(rate)} rows/s`;
  const rejected = e.rejected > 0 ? `, ${formatCount(e.rejected)} rejected` : "";
  switch (e.phase) {
    case "waiting":
      return `${e.name}: waiting`;
    case "done":
      return `${e.name}: done in ${(activeSeconds(e, nowMs) ?? 0).toFixed(1)}s, ${formatCount(e.rowsSent)} rows sent${rejected}${rateText}`;
    case "acking":
      return `${e.name}: all ${formatCount(e.rowsSent)} rows sent, ${formatCount(e.rowsAcked)} acked${rejected}${rateText}`;
    case "sending": {
      const fraction = entityFraction(e);
      const eta = entityEta(e, nowMs);
      return `${e.name}: ${formatCount(e.rowsSent)} rows sent, ${formatCount(e.rowsAcked)} acked${rejected}` +
        `${fraction === null ? "" : `, ${percent(fraction)}`}${rateText}${eta === null ? "" : `, ETA ${formatDuration(eta)}`}`;
    }
  }
}

/** One plain log line for the results (never the words "results in": scripts look for the final line by them). */
export function renderQueriesLog(view: ProgressView): string {
  return `results: ${view.queries.map((q) =>
    q.completeMs !== null
      ? `${q.name} complete (${q.chunks} chunk${q.chunks === 1 ? "" : "s"}, ${((q.completeMs - view.startedMs) / 1000).toFixed(1)}s)`
      : q.chunks > 0 ? `${q.name} ${q.chunks} chunk${q.chunks === 1 ? "" : "s"}` : `${q.name} none yet`).join(", ")}`;
}

/**
 * Periodic plain lines for logs: a line per entity whose counters moved since the last call, a
 * results line when a query moved, and a results line anyway when nothing else would be printed,
 * so a long wait for results still shows the client is alive.
 */
export class LogLines {
  private readonly last = new Map<string, string>();
  /** Whether the last lines said the broker takes no publishes. */
  private brokerHeld = false;

  /** Lines to print now for `view`, each with its `[elapsed]` prefix. */
  next(view: ProgressView, nowMs: number): string[] {
    const prefix = stamp(view, nowMs);
    if (view.session === null) return [`${prefix}connecting to the gateway…`];
    const out: string[] = [];
    for (const e of view.entities) {
      if (e.phase === "waiting") continue;
      if (this.changed(`entity:${e.name}`, `${e.phase}|${e.rowsSent}|${e.rowsAcked}|${e.rejected}`)) out.push(prefix + renderEntityLog(e, nowMs));
    }
    if ((view.brokerHeld === true) !== this.brokerHeld) {
      this.brokerHeld = !this.brokerHeld;
      // Neutral: a lost connection clears it too, not only the broker.
      out.push(prefix + (this.brokerHeld ? BROKER_HELD : "the gateway no longer says the broker takes no publishes"));
    }
    const queriesMoved = this.changed("queries", view.queries.map((q) => `${q.chunks}|${q.completeMs !== null}`).join(","));
    if (queriesMoved || out.length === 0) out.push(prefix + renderQueriesLog(view));
    return out;
  }

  /** Remember `signature` under `key`; true when it differs from the one remembered before. */
  private changed(key: string, signature: string): boolean {
    if (this.last.get(key) === signature) return false;
    this.last.set(key, signature);
    return true;
  }
}

/**
 * The final summary table: rows sent and rejected, rate and time per entity, the totals, and how
 * long after the session start each query's result was complete. `totalSeconds` is the whole
 * run's time, the same figure as the final `session ...` line's.
 */
export function renderSummary(view: ProgressView, totalSeconds: number): string[] {
  const nameW = Math.max(nameWidth(view), "entity".length, "total".length);
  const row = (name: string, sent: string, rejected: string, rate: string, time: string): string =>
    `${name.padEnd(nameW)}  ${sent.padStart(11)}  ${rejected.padStart(8)}  ${rate.padStart(10)}  ${time.padStart(9)}`;
  const lines = [row("entity", "rows sent", "rejected", "rows/s", "time")];
  let sent = 0;
  let rejected = 0;
  for (const e of view.entities) {
    sent += e.rowsSent;
    rejected += e.rejected;
    const s = e.startedMs !== null && e.doneMs !== null ? (e.doneMs - e.startedMs) / 1000 : null;
    // A rate over a few milliseconds (the small dimension tables) means nothing: leave it out.
    const rate = s !== null && s >= MIN_DONE_RATE_SECONDS ? formatCount(e.rowsSent / s) : "-";
    lines.push(row(e.name, formatCount(e.rowsSent), formatCount(e.rejected), rate, s === null ? "-" : `${s.toFixed(2)} s`));
  }
  lines.push(row("total", formatCount(sent), formatCount(rejected), totalSeconds > 0 ? formatCount(sent / totalSeconds) : "-", `${totalSeconds.toFixed(2)} s`));
  const qW = Math.max(5, ...view.queries.map((q) => q.name.length));
  lines.push(`${"query".padEnd(qW)}  ${"complete after".padStart(14)}  ${"chunks".padStart(6)}`);
  for (const q of view.queries) {
    const after = q.completeMs === null ? "incomplete" : `${((q.completeMs - view.startedMs) / 1000).toFixed(2)} s`;
    lines.push(`${q.name.padEnd(qW)}  ${after.padStart(14)}  ${String(q.chunks).padStart(6)}`);
  }
  return lines;
}
