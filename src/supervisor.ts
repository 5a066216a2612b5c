/**
 * Keeps `coffee up`'s child processes running: spawns each with its log file, restarts one that
 * exits unexpectedly (capped backoff), and stops them all on shutdown (SIGTERM, then SIGKILL).
 */
import { closeSync, fstatSync, mkdirSync, openSync } from "node:fs";
import { join } from "node:path";
import type { Subprocess } from "bun";
import { CoffeeError, codedMessage, errorMessage } from "./errors.ts";
import { settledWithin } from "./settledWithin.ts";
import { SHUTDOWN_GRACE_MS } from "./signalStop.ts";

/** How long a replaced child may take to die after SIGKILL before its successor is refused. */
const KILL_WAIT_MS = 10_000;

/** What to run for one process of the cluster. */
export interface ChildSpec {
  name: string;
  role: string;
  argv: string[];
  env: Record<string, string>;
  healthPort: number;
}

interface Child {
  spec: ChildSpec;
  proc: Subprocess | null;
  lastPid: number | null;
  /** A restart scheduled by the restart policy, not yet run. */
  pendingRestart: ReturnType<typeof setTimeout> | null;
  /** Recent restarts, for the backoff (reset once the child ran a while). */
  restarts: number;
  /** Starts after the first, by this supervisor or on a monitor's request (for cluster.json); -1 before the first. */
  totalRestarts: number;
  lastStart: number;
  /** Size of the child's log file when its current process started. */
  logFrom: number;
  /**
   * A replace under way (the old process killed, not yet gone). A second request meanwhile (a
   * monitor retrying after its own timeout, a new leader) is that same replace: started on its
   * own, it would run a second copy beside the one still dying.
   */
  replacing: Promise<{ started: boolean; pid: number | null }> | null;
}

/**
 * Supervises a set of children; `onChange` fires whenever a pid changes (for cluster.json). A
 * failing `onChange` (a full disk) is logged and never stops a start or a restart.
 */
export class Supervisor {
  private readonly children = new Map<string, Child>();
  private stopping = false;

  constructor(
    private readonly logDir: string,
    private readonly log: (m: string) => void,
    private readonly onChange: () => void,
    /**
     * Whether a child that exits is restarted by the supervisor itself: null = never, "backoff" =
     * at once with capped exponential backoff, a number = after that many ms (a last resort,
     * cancelled if someone else starts the child first).
     */
    private readonly restart: (spec: ChildSpec) => "backoff" | number | null,
    /** What the exit log line says of a child `restart` leaves down: who, if anyone, brings it back. */
    private readonly leftDown = "left to the monitors",
    /**
     * Told of every exit of a child (not of those stopAll or a replace ends), before any restart;
     * `logFrom` is the size its log had when this run of it started (what it wrote is after).
     */
    private readonly onExit: (spec: ChildSpec, code: number | null, logFrom: number) => void = () => {},
  ) {}

  /** Start a child. */
  start(spec: ChildSpec): void {
    const child: Child = { spec, proc: null, lastPid: null, pendingRestart: null, restarts: 0, totalRestarts: -1, lastStart: 0, logFrom: 0, replacing: null };
    this.children.set(spec.name, child);
    this.spawn(child);
  }

  private spawn(child: Child): void {
    // Made again if someone removed it while the cluster ran: a restart must not fail for it.
    mkdirSync(this.logDir, { recursive: true });
    const fd = openSync(join(this.logDir, `${child.spec.name}.log`), "a");
    child.logFrom = fstatSync(fd).size;
    let proc: Subprocess;
    try {
      proc = Bun.spawn(child.spec.argv, {
        env: { ...(process.env as Record<string, string>), ...child.spec.env },
        stdout: fd,
        stderr: fd,
        // A pipe we never write to: the child reads its end when we die (src/parentWatch.ts).
        stdin: "pipe",
        onExit: (_p, code, signal): void => this.exited(child, proc, code, signal),
      });
    } finally {
      // The child has its own copy; ours would leak one descriptor per (re)start.
      closeSync(fd);
    }
    child.lastStart = performance.now();
    child.totalRestarts++;
    child.proc = proc;
    child.lastPid = proc.pid;
    this.changed();
  }

  /**
   * `name`'s log was rotated (src/logRotation.ts): what its current run wrote starts at the
   * beginning of the file now, for the exit report (onExit's `logFrom`).
   */
  logRotated(name: string): void {
    const child = this.children.get(name);
    if (child) child.logFrom = 0;
  }

  /** Tell `onChange`; what it throws is logged: recording a pid must not keep a child down. */
  private changed(): void {
    try {
      this.onChange();
    } catch (err) {
      this.log(`could not record the change: ${codedMessage(err)}`);
    }
  }

  private exited(child: Child, proc: Subprocess, code: number | null, signal: number | string | null): void {
    if (child.proc !== proc || this.stopping) return;
    child.proc = null;
    this.changed();
    const restart = this.restart(child.spec);
    this.log(`${child.spec.name} exited (${signal ? `signal ${signal}` : `code ${code}`})${restart === null ? `; ${this.leftDown}` : ""}`);
    this.onExit(child.spec, signal ? null : code, child.logFrom);
    if (restart === null) return;
    // A child that ran for a while gets restarted at once; one that keeps dying backs off.
    const ranMs = performance.now() - child.lastStart;
    if (ranMs > 30_000) child.restarts = 0;
    this.scheduleRestart(child, restart);
  }

  private scheduleRestart(child: Child, restart: "backoff" | number): void {
    const delay = restart === "backoff" ? Math.min(250 * 2 ** child.restarts, 10_000) : restart;
    child.restarts++;
    child.pendingRestart = setTimeout(() => {
      child.pendingRestart = null;
      if (this.stopping || child.proc) return;
      this.log(`restarting ${child.spec.name} (restart #${child.restarts})`);
      try {
        this.spawn(child);
      } catch (err) {
        // Out of descriptors, an executable replaced mid-upgrade: tried again later, while the
        // rest of the cluster (and coffee up) goes on.
        this.log(`could not restart ${child.spec.name}: ${errorMessage(err)}; trying again`);
        this.scheduleRestart(child, restart);
      }
    }, delay);
  }

  /**
   * Start a child that is down, on request (a monitor reviving it). A running child is left
   * alone, unless `replace`: then it is SIGKILLed and, once it has exited, started again (alive
   * but hung, or stopped). With `hungPid`, only if that is the child running: a request that
   * waited (coffee up stopped, say) while the child was restarted must not kill its successor.
   * Returns null for an unknown name. `requester` (who asked) goes into the log.
   */
  async startByName(name: string, replace = false, hungPid: number | null = null, requester = "a monitor"): Promise<{ started: boolean; pid: number | null } | null> {
    const child = this.children.get(name);
    if (!child) return null;
    if (child.replacing) return child.replacing;
    if (this.stopping || (child.proc && !replace)) return { started: false, pid: child.lastPid };
    if (child.proc && hungPid !== null && child.proc.pid !== hungPid) {
      this.log(`not replacing ${name}: pid ${hungPid} was judged hung, pid ${child.proc.pid} runs now`);
      return { started: false, pid: child.lastPid };
    }
    if (child.pendingRestart) clearTimeout(child.pendingRestart);
    child.pendingRestart = null;
    const hung = child.proc;
    if (!hung) {
      this.log(`starting ${name} at the request of ${requester}`);
      this.spawn(child);
      return { started: true, pid: child.lastPid };
    }
    const replacing = this.replaceHung(child, hung, requester);
    child.replacing = replacing;
    try {
      return await replacing;
    } finally {
      if (child.replacing === replacing) child.replacing = null;
    }
  }

  /** SIGKILL `hung` and, once it has exited, start the child again. */
  private async replaceHung(child: Child, hung: Subprocess, requester: string): Promise<{ started: boolean; pid: number | null }> {
    const name = child.spec.name;
    // Its exit is no longer ours to act on (exited() ignores a process that is not current).
    child.proc = null;
    hung.kill("SIGKILL");
    this.log(`killed ${name} (pid ${hung.pid}) at the request of ${requester}: running but not answering; starting it again once it has exited`);
    // One stuck in a disk write dies only when the write returns: a successor started before
    // would replay a log the old one may still be writing to, and find its ports taken.
    if (!(await settledWithin(hung.exited, KILL_WAIT_MS))) {
      child.proc = hung;
      throw new CoffeeError("REVIVAL_FAILED", `${name} (pid ${hung.pid}) has not exited ${KILL_WAIT_MS / 1000} s after SIGKILL (stuck in the kernel?); not starting a second one`);
    }
    if (this.stopping || child.proc) return { started: false, pid: child.lastPid };
    this.spawn(child);
    return { started: true, pid: child.lastPid };
  }

  /** Current processes: spec, latest pid, whether that pid is still running, and how often it was restarted. */
  list(): { spec: ChildSpec; pid: number | null; alive: boolean; restarts: number }[] {
    return [...this.children.values()].map((c) => ({ spec: c.spec, pid: c.lastPid, alive: c.proc !== null, restarts: c.totalRestarts }));
  }

  /**
   * Stop every child: SIGTERM, then SIGKILL after `graceMs`: longer than a role's own grace
   * (src/signalStop.ts), so that a role whose stop hangs exits by itself and says why.
   */
  async stopAll(graceMs = SHUTDOWN_GRACE_MS + 5_000): Promise<void> {
    this.stopping = true;
    const procs = [...this.children.values()].map((c) => c.proc).filter((p): p is Subprocess => p !== null);
    for (const p of procs) p.kill("SIGTERM");
    const timer = setTimeout(() => { for (const p of procs) p.kill("SIGKILL"); }, graceMs);
    await Promise.all(procs.map((p) => p.exited));
    clearTimeout(timer);
  }
}
