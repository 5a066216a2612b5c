/** Waiting on a promise for a bounded time, for shutdown paths that must not hang. */

/** True when `p` settles (either way) within `ms`; false when it is still running then. The timer is cleared either way. */
export async function settledWithin(p: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<false>((resolve) => { timer = setTimeout(() => resolve(false), ms); });
  try {
    return await Promise.race([p.then(() => true, () => true), late]);
  } finally {
    clearTimeout(timer);
  }
}
