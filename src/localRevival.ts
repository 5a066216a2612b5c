/**
 * Revival backend for clusters run by `coffee up`: starts a dead child through up's control API
 * (src/controlApi.ts), which also fences stale terms on its side.
 */
import { errorMessage } from "./errors.ts";
import { RevivalError, RevivalGuard, type RevivalBackend, type RevivalGuardOptions, type RevivalOutcome, type ReviveOptions } from "./revival.ts";

/** The newer term a 409 from coffee up's control API names (`{ currentTerm }`), or undefined when it names none. */
async function fencedBy(res: Response): Promise<number | undefined> {
  const body = (await res.json().catch(() => ({}))) as { currentTerm?: unknown };
  return Number.isSafeInteger(body.currentTerm) ? (body.currentTerm as number) : undefined;
}

/** Options of the local backend. */
export interface LocalRevivalOptions extends RevivalGuardOptions {
  /** Base URL of coffee up's control API, e.g. http://127.0.0.1:40123. */
  controlUrl: string;
  timeoutMs?: number;
  /** The monitor asking, named in coffee up's log. */
  requester?: string;
  /** The key coffee up's control API asks for (its control.json's `key`); none for an API without one. */
  key?: string;
}

/** Starts local children through coffee up. */
export class LocalRevivalBackend implements RevivalBackend {
  /** Fencing, budget, backoff and events (shared with the docker backend). */
  readonly guard: RevivalGuard;

  constructor(private readonly opts: LocalRevivalOptions) {
    this.guard = new RevivalGuard(opts);
  }

  private authorization(): Record<string, string> {
    return this.opts.key === undefined ? {} : { authorization: `Bearer ${this.opts.key}` };
  }

  /** The highest term coffee up has seen (0 when it cannot be asked). */
  async currentTerm(): Promise<number> {
    try {
      const res = await fetch(`${this.opts.controlUrl}/term`, { headers: this.authorization(), signal: AbortSignal.timeout(this.opts.timeoutMs ?? 5000) });
      return res.ok ? Number(((await res.json()) as { term?: number }).term ?? 0) : 0;
    } catch {
      return 0;
    }
  }

  /**
   * Tell coffee up a new leader holds `term`, so requests from older terms are refused from now on.
   * False when coffee up has seen a newer term (409): the guard keeps that term, so this stale
   * leader's revivals are refused here, without asking.
   */
  async announce(term: number): Promise<boolean> {
    if (!this.guard.observeTerm(term)) return false;
    try {
      const res = await fetch(`${this.opts.controlUrl}/term`, { method: "POST", headers: { "content-type": "application/json", ...this.authorization() }, body: JSON.stringify({ term }), signal: AbortSignal.timeout(this.opts.timeoutMs ?? 5000) });
      if (res.status === 409) {
        const newer = await fencedBy(res);
        if (newer !== undefined) this.guard.observeTerm(newer);
      }
      return res.ok;
    } catch {
      return false;
    }
  }

  /** Ask coffee up to start `name` for the leader of `term` (one attempt; see RevivalBackend). */
  revive(name: string, term: number, options: ReviveOptions = {}): Promise<RevivalOutcome> {
    return this.guard.run(name, term, async () => {
      let res: Response;
      try {
        res = await fetch(`${this.opts.controlUrl}/processes/${encodeURIComponent(name)}/start`, {
          method: "POST",
          headers: { "content-type": "application/json", ...this.authorization() },
          body: JSON.stringify({ term, replace: options.replace === true, ...(options.replace && options.pid != null ? { pid: options.pid } : {}), ...(this.opts.requester ? { by: this.opts.requester } : {}) }),
          signal: AbortSignal.timeout(this.opts.timeoutMs ?? 5000),
        });
      } catch (err) {
        throw new RevivalError("REVIVAL_FAILED", name, `coffee up's control API at ${this.opts.controlUrl} did not answer: ${errorMessage(err)}`);
      }
      if (res.status === 409) {
        const newer = await fencedBy(res);
        throw new RevivalError("REVIVAL_FENCED", name, `coffee up refused term ${term}: it has seen term ${newer ?? "?"}`, undefined, newer);
      }
      if (!res.ok) throw new RevivalError("REVIVAL_FAILED", name, `coffee up answered ${res.status}: ${await res.text()}`);
      const body = (await res.json().catch(() => ({}))) as { started?: unknown };
      return body.started === false ? "running" : "started";
    });
  }
}
