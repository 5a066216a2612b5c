/**
 * A process started by another coffee process (coffee up's children, coffee up under chaos or
 * demo) stops when that parent is gone. A SIGKILLed `coffee up` cannot stop its children, and
 * orphans would keep the gateway's port and the broker's consumers, so the next `coffee up`
 * would refuse to start. The parent says who it is in COFFEE_PARENT_PID.
 */

/** The environment variable a coffee parent sets to its pid for the children it spawns. */
export const PARENT_PID_ENV = "COFFEE_PARENT_PID";

/**
 * Calls `onGone` once this process's parent is no longer `parentPid` (it died and the process
 * was reparented). Polls, as Linux tells a child of its parent's death only by a signal it
 * must ask for before the parent dies (prctl), which Bun does not expose. Returns a stop function.
 */
export function watchParent(parentPid: number, onGone: () => void, intervalMs = 500): () => void {
  const timer = setInterval(() => {
    if (process.ppid === parentPid) return;
    clearInterval(timer);
    onGone();
  }, intervalMs);
  // The watch alone must not keep a process alive that has finished its work.
  timer.unref();
  return () => clearInterval(timer);
}

/**
 * Starts the watch when `env` names this process's parent. A value naming another process that
 * still runs was inherited from further up (a grandchild's environment) and is ignored; one
 * naming a process that no longer runs means the parent died before the watch began (this
 * process now belongs to init or a subreaper).
 */
export function watchParentFromEnv(env: Record<string, string | undefined>, onGone: (parentPid: number) => void): void {
  const pid = Number(env[PARENT_PID_ENV]);
  if (!Number.isInteger(pid) || pid <= 1) return;
  if (process.ppid === pid) return void watchParent(pid, () => onGone(pid));
  if (!processRuns(pid)) onGone(pid);
}

/** True while a process with this pid exists (signal 0 checks without sending anything). */
function processRuns(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    // EPERM: it exists, under another user.
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
}
