/**
 * Revival backend for clusters run by Docker Compose (or plain `docker run --name`): finds the
 * container of a process and starts it through the Docker Engine API (dockerode, UNIX socket).
 *
 * Per attempt it makes these Engine API calls (with an optional `/vX.Y` prefix):
 *   1. GET /containers/json?all=true&filters={"label":["com.docker.compose.service=<name>"(,"com.docker.compose.project=<project>")]}
 *   2. only if 1 found nothing: GET /containers/json?all=true&filters={"name":["^/<name>$"]}
 *   3. POST /containers/<id>/start   (204 started; 304 already running: left alone, "running")
 *      or, asked to replace a running (or paused) container, POST /containers/<id>/unpause if
 *      paused, then POST /containers/<id>/restart?t=0 (killed at once and started again)
 * One-off containers (`docker compose run`, label com.docker.compose.oneoff=True) are ignored;
 * two or more matches are an error (ambiguous), never a guess. Nothing is cached (compose may
 * recreate a container under a new id), and nothing is written to Docker: fencing is local to
 * this backend instance (see `RevivalGuard`), so it stops a stale leader in the same process,
 * not another process holding its own backend.
 */
import Docker from "dockerode";
import { errorMessage } from "./errors.ts";
import { RevivalError, RevivalGuard, type RevivalBackend, type RevivalEvent, type RevivalOutcome, type RevivalPolicy, type ReviveOptions } from "./revival.ts";

/** Compose label naming a container's service. */
export const COMPOSE_SERVICE_LABEL = "com.docker.compose.service";
/** Compose label naming a container's project. */
export const COMPOSE_PROJECT_LABEL = "com.docker.compose.project";

/** Compose label set to "True" on `docker compose run` one-off containers. */
export const COMPOSE_ONEOFF_LABEL = "com.docker.compose.oneoff";

/** Options of `DockerRevivalBackend`. */
export interface DockerRevivalOptions {
  /** Docker Engine socket, e.g. /var/run/docker.sock. */
  socketPath: string;
  /** Compose project to restrict the label lookup to (recommended when several projects run). */
  project?: string;
  /** Engine API version prefix, e.g. "v1.43" (default: none, the engine's own version). */
  apiVersion?: string;
  /** Per-request timeout (default 5000 ms); a request that takes longer fails the attempt. */
  timeoutMs?: number;
  /** Retry policy (default `DEFAULT_REVIVAL_POLICY`). */
  policy?: RevivalPolicy;
  /** Receives every `RevivalEvent`. */
  onEvent?: (event: RevivalEvent) => void;
  /** Receives detail lines (which container was started, already running, ...). */
  log?: (message: string) => void;
  /** Clock for the policy (default `performance.now()`). */
  now?: () => number;
}

/** The container found for a process name. */
export interface DockerContainerRef {
  id: string;
  /** Container names as the engine reports them (leading "/"). */
  names: string[];
  state: string;
  /** How it was found. */
  matchedBy: "compose-label" | "name";
}

interface ListedContainer {
  Id: string;
  Names: string[];
  Labels: Record<string, string>;
  State: string;
}

/** Narrow one entry of GET /containers/json (dockerode types it loosely) to the fields used. */
function asListedContainer(v: unknown): ListedContainer | null {
  if (typeof v !== "object" || v === null) return null;
  const { Id, Names, Labels, State } = v as { Id?: unknown; Names?: unknown; Labels?: unknown; State?: unknown };
  if (typeof Id !== "string" || Id === "") return null;
  const names = Array.isArray(Names) ? Names.filter((n): n is string => typeof n === "string") : [];
  const labels: Record<string, string> = {};
  if (typeof Labels === "object" && Labels !== null) for (const [k, l] of Object.entries(Labels)) if (typeof l === "string") labels[k] = l;
  return { Id, Names: names, Labels: labels, State: typeof State === "string" ? State : "unknown" };
}

/** The fields docker-modem puts on the errors it rejects with. */
interface EngineErrorInfo {
  statusCode: number | undefined;
  /** The engine's `message` from the JSON body, if any. */
  engineMessage: string | undefined;
  /** Set for transport errors (ENOENT, ECONNREFUSED, ...). */
  errno: string | undefined;
  aborted: boolean;
}

function engineErrorInfo(err: unknown): EngineErrorInfo {
  if (typeof err !== "object" || err === null) return { statusCode: undefined, engineMessage: undefined, errno: undefined, aborted: false };
  const e = err as { statusCode?: unknown; json?: unknown; code?: unknown; name?: unknown };
  const json = e.json;
  const msg = typeof json === "object" && json !== null && !(json instanceof Uint8Array) ? (json as { message?: unknown }).message : undefined;
  return {
    statusCode: typeof e.statusCode === "number" ? e.statusCode : undefined,
    engineMessage: typeof msg === "string" ? msg : undefined,
    errno: typeof e.code === "string" ? e.code : undefined,
    aborted: e.name === "AbortError" || e.name === "TimeoutError" || e.code === "ABORT_ERR",
  };
}

function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}

function shortId(id: string): string {
  return id.slice(0, 12);
}

/** Revival through the Docker Engine API: see the module comment for the exact calls. */
export class DockerRevivalBackend implements RevivalBackend {
  /** The guard doing fencing, budget, backoff and events; its policy is readable for status. */
  readonly guard: RevivalGuard;
  private readonly docker: Docker;
  private readonly socketPath: string;
  private readonly project: string | undefined;
  private readonly timeoutMs: number;
  private readonly log: (message: string) => void;

  constructor(opts: DockerRevivalOptions) {
    this.socketPath = opts.socketPath;
    this.project = opts.project;
    this.timeoutMs = opts.timeoutMs ?? 5_000;
    this.log = opts.log ?? (() => {});
    this.docker = new Docker(opts.apiVersion ? { socketPath: opts.socketPath, version: opts.apiVersion } : { socketPath: opts.socketPath });
    this.guard = new RevivalGuard({ policy: opts.policy, onEvent: opts.onEvent, now: opts.now });
  }

  /** Highest election term this backend has seen. */
  get highestTerm(): number {
    return this.guard.highestTerm;
  }

  /** Learn of a newer term without reviving anything; false if `term` is older than one seen. */
  observeTerm(term: number): boolean {
    return this.guard.observeTerm(term);
  }

  /** See `RevivalBackend.revive`. One attempt: look the container up, then start (or replace) it. */
  revive(name: string, term: number, options: ReviveOptions = {}): Promise<RevivalOutcome> {
    return this.guard.run(name, term, async () => {
      const container = await this.findContainer(name);
      if (options.replace && (container.state === "running" || container.state === "paused")) {
        await this.replace(name, container);
        return "started";
      }
      return this.start(name, container);
    });
  }

  /**
   * The container of process `name`: by compose service label (and project, if configured),
   * else by exact container name. Throws RevivalError (REVIVAL_FAILED) if none or
   * several match, or Docker cannot be reached.
   */
  async findContainer(name: string): Promise<DockerContainerRef> {
    const labels = [`${COMPOSE_SERVICE_LABEL}=${name}`];
    if (this.project !== undefined) labels.push(`${COMPOSE_PROJECT_LABEL}=${this.project}`);
    // `docker compose run` leaves one-off containers with the same service label: never those
    const byLabel = (await this.list(name, { label: labels })).filter((c) => c.Labels[COMPOSE_ONEOFF_LABEL] !== "True");
    if (byLabel.length > 0) return this.pick(name, byLabel, "compose-label", `labelled ${labels.join(", ")}`);
    // the engine's name filter is an unanchored regexp over "/<name>": anchor it, and re-check here
    const byName = (await this.list(name, { name: [`^/${escapeRegExp(name)}$`] })).filter((c) => c.Names.includes(`/${name}`));
    if (byName.length > 0) return this.pick(name, byName, "name", `named ${name}`);
    const scope = this.project !== undefined ? ` in compose project ${this.project}` : "";
    throw new RevivalError("REVIVAL_FAILED", name, `no Docker container for ${name}: none labelled ${COMPOSE_SERVICE_LABEL}=${name}${scope} and none named ${name}`);
  }

  private pick(name: string, found: ListedContainer[], matchedBy: DockerContainerRef["matchedBy"], how: string): DockerContainerRef {
    const only = found[0];
    if (found.length > 1 || !only) {
      const list = found.map((c) => `${shortId(c.Id)} ${c.Names.join(",")}`).join("; ");
      throw new RevivalError("REVIVAL_FAILED", name, `ambiguous: ${found.length} Docker containers ${how} (${list}); set the compose project to choose`);
    }
    return { id: only.Id, names: only.Names, state: only.State, matchedBy };
  }

  private async list(name: string, filters: Record<string, string[]>): Promise<ListedContainer[]> {
    let result: unknown;
    try {
      result = await this.docker.listContainers({ all: true, filters, abortSignal: AbortSignal.timeout(this.timeoutMs) });
    } catch (err) {
      throw new RevivalError("REVIVAL_FAILED", name, `listing Docker containers failed: ${this.describe(err)}`);
    }
    if (!Array.isArray(result)) throw new RevivalError("REVIVAL_FAILED", name, `listing Docker containers returned ${typeof result}, not an array`);
    return result.map(asListedContainer).filter((c): c is ListedContainer => c !== null);
  }

  private async start(name: string, c: DockerContainerRef): Promise<RevivalOutcome> {
    const label = `container ${shortId(c.id)} (${c.names.join(",") || "unnamed"})`;
    try {
      await this.docker.getContainer(c.id).start({ abortSignal: AbortSignal.timeout(this.timeoutMs) });
      this.log(`started ${label} for ${name}`);
      return "started";
    } catch (err) {
      const info = engineErrorInfo(err);
      if (info.statusCode === 304) {
        this.log(`${label} for ${name} was already running`);
        return "running";
      }
      throw new RevivalError("REVIVAL_FAILED", name, `starting ${label} failed: ${this.describe(err)}`);
    }
  }

  /** Kill a running (or paused) container that does not answer, and start it again. */
  private async replace(name: string, c: DockerContainerRef): Promise<void> {
    const label = `container ${shortId(c.id)} (${c.names.join(",") || "unnamed"})`;
    const container = this.docker.getContainer(c.id);
    try {
      // A paused container cannot be restarted; unpaused, it is killed at once by the restart.
      if (c.state === "paused") await container.unpause({ abortSignal: AbortSignal.timeout(this.timeoutMs) });
      await container.restart({ t: 0, abortSignal: AbortSignal.timeout(this.timeoutMs) });
      this.log(`restarted ${label} for ${name}: it was ${c.state} but not answering`);
    } catch (err) {
      throw new RevivalError("REVIVAL_FAILED", name, `restarting ${label} (${c.state}, not answering) failed: ${this.describe(err)}`);
    }
  }

  /** A message for people from a dockerode/docker-modem rejection. */
  private describe(err: unknown): string {
    const info = engineErrorInfo(err);
    if (info.statusCode !== undefined) return `HTTP ${info.statusCode}${info.engineMessage !== undefined ? `: ${info.engineMessage}` : ""}`;
    if (info.aborted) return `Docker did not answer within ${this.timeoutMs} ms`;
    if (info.errno !== undefined) return `cannot reach Docker at ${this.socketPath} (${info.errno}): ${errorMessage(err)}`;
    return errorMessage(err);
  }
}
