/**
 * A process started by another coffee process (coffee up's children, coffee up under chaos or
 * demo) stops when that parent is gone. A SIGKILLed `coffee up` cannot stop its children, and
 * orphans would keep the gateway's port and the broker's consumers, so the next `coffee up`
 * would refuse to start. The parent says who it is in COFFEE_PARENT_PID and gives the child a
 * pipe as stdin that it never writes to: the kernel closes the parent's end when the parent
 * dies, however it died, and the child reads the end of its input. No timer, no polling (a
 * timer twice a second measurably raised the gateway's peak memory).
 */

/** The environment variable a coffee parent sets to its pid for the children it spawns. */
export const PARENT_PID_ENV = "COFFEE_PARENT_PID";

/** Calls `onGone` once stdin reaches its end (or fails): the parent's end of the pipe closed. */
export function watchStdinEnd(onGone: () => void): void {
  void (async () => {
    try {
      for await (const _ of Bun.stdin.stream()) {
        // The parent never writes; whatever comes is ignored.
      }
    } catch {
      // A read error means the pipe is gone as well.
    }
    onGone();
  })();
}

/**
 * Starts `watch` when `env` names this process's parent. A value naming another process that
 * still runs was inherited from further up (a grandchild's environment) and is ignored; one
 * naming a process that no longer runs means the parent died before the watch began (this
 * process now belongs to init or a subreaper).
 */
export function watchParentFromEnv(env: Record<string, string | undefined>, onGone: (parentPid: number) => void, watch: (onGone: () => void) => void = watchStdinEnd): void {
  const pid = Number(env[PARENT_PID_ENV]);
  if (!Number.isInteger(pid) || pid <= 1) return;
  if (process.ppid === pid) return watch(() => onGone(pid));
  if (!processRuns(pid)) onGone(pid);
}

/** True while a process with this pid exists (signal 0 checks without sending anything). */
export function processRuns(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    // EPERM: it exists, under another user.
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
}
