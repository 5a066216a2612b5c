/**
 * `coffee up`'s loopback control API, through which monitors revive processes in a local
 * cluster: list the children, start one by name. Start requests carry the requesting leader's
 * election term; a request from an older term than one already seen is refused (fencing), so a
 * paused ex-leader can never act.
 *
 * Only this machine's processes can reach it (it listens on loopback), and with a key (coffee up
 * makes one and writes it to control.json, readable by its own user only) only those that can
 * read the key: every request without `authorization: Bearer <key>` gets 401, so another user
 * of the machine can neither start nor kill children nor move the term. Against web pages in a
 * browser on this machine: a Host that does not name this machine gets 403 (DNS rebinding), and
 * a POST must say `content-type: application/json`, which a cross-site page cannot send without
 * a CORS preflight this API never grants (415 otherwise).
 *
 *   GET  /processes                      → [{ name, role, pid, alive }]
 *   POST /processes/<name>/start {term, replace?, pid?, by?} → 200 { started, pid } | 404 | 409 { currentTerm }
 *        (a running process is left alone, started: false; with replace it is killed and started
 *        again, unless pid names another process than the one running: then it is left alone too;
 *        `by` names the monitor asking, for coffee up's log; one that is not a plain name is left out)
 *   GET  /term                           → { term }  (highest term seen)
 *   POST /term {term}                    → 200 | 409 { currentTerm }  (a new leader announces itself)
 */
import { errorMessage } from "./errors.ts";
import { MAX_TERM_STEP } from "./election.ts";
import { hostAllowed } from "./hostCheck.ts";
import { secretsEqual } from "./secretsEqual.ts";
import type { Supervisor } from "./supervisor.ts";

/** A running control API. */
export interface ControlApi {
  url: string;
  /** Highest election term seen in a start request. */
  readonly term: number;
  stop(): void;
}

/**
 * Serve the control API on 127.0.0.1 at an OS-chosen port. `pidsRecorded` says whether
 * cluster.json holds the children's current pids: while it does not (its write failed), the pid
 * a replace names may be a dead predecessor's, and is not held against the child running.
 */
export function startControlApi(supervisor: Supervisor, log: (m: string) => void, pidsRecorded: () => boolean = () => true, key: string | null = null): ControlApi {
  // Terms advance in small steps (MAX_TERM_STEP); a wild jump would lock every later leader out.
  let highestTerm = 0;
  const readTerm = async (req: Request): Promise<{ term: number; replace: boolean; pid: number | null; by: string | null } | Response> => {
    let term: unknown;
    let replace: unknown;
    let pid: unknown;
    let by: unknown;
    try {
      ({ term, replace, pid, by } = (await req.json()) as { term?: unknown; replace?: unknown; pid?: unknown; by?: unknown });
    } catch {
      return Response.json({ error: "body must be JSON {term}" }, { status: 400 });
    }
    // Goes into a log line only: a name that could carry anything else (a terminal's escape
    // sequences) is left out, never a reason to refuse a revival.
    const requester = typeof by === "string" && /^[\w.-]{1,64}$/.test(by) ? by : null;
    if (replace !== undefined && typeof replace !== "boolean") return Response.json({ error: "replace must be true or false" }, { status: 400 });
    if (pid !== undefined && pid !== null && (typeof pid !== "number" || !Number.isSafeInteger(pid) || pid <= 0)) return Response.json({ error: "pid must be a positive integer or null" }, { status: 400 });
    if (typeof term !== "number" || !Number.isInteger(term) || term < 0 || term > highestTerm + MAX_TERM_STEP) {
      return Response.json({ error: `term must be an integer in 0..${highestTerm + MAX_TERM_STEP}` }, { status: 400 });
    }
    if (term < highestTerm) return Response.json({ error: "fenced", currentTerm: highestTerm }, { status: 409 });
    highestTerm = term;
    return { term, replace: replace === true, pid: typeof pid === "number" ? pid : null, by: requester };
  };
  const server = Bun.serve({
    hostname: "127.0.0.1",
    port: 0,
    async fetch(req) {
      if (!hostAllowed(req.headers.get("host"), [])) return Response.json({ error: "this API answers only to this machine's names" }, { status: 403 });
      if (key !== null && !secretsEqual(`Bearer ${key}`, req.headers.get("authorization"))) {
        return Response.json({ error: "this API needs the key in coffee up's control.json (authorization: Bearer <key>)" }, { status: 401 });
      }
      if (req.method === "POST" && !/^application\/json\b/i.test(req.headers.get("content-type") ?? "")) {
        return Response.json({ error: "POST bodies must be content-type: application/json" }, { status: 415 });
      }
      const url = new URL(req.url);
      if (req.method === "GET" && url.pathname === "/processes") {
        return Response.json(supervisor.list().map((c) => ({ name: c.spec.name, role: c.spec.role, pid: c.pid, alive: c.alive })));
      }
      if (url.pathname === "/term") {
        if (req.method === "GET") return Response.json({ term: highestTerm });
        if (req.method === "POST") {
          const read = await readTerm(req);
          return read instanceof Response ? read : Response.json({ term: read.term });
        }
      }
      const m = /^\/processes\/([^/]+)\/start$/.exec(url.pathname);
      if (req.method === "POST" && m) {
        const read = await readTerm(req);
        if (read instanceof Response) {
          if (read.status === 409) log(`refused to start ${m[1]}: a newer term than the requester's has been seen (stale leader)`);
          return read;
        }
        let result: Awaited<ReturnType<Supervisor["startByName"]>>;
        try {
          result = await supervisor.startByName(decodeURIComponent(m[1]!), read.replace, pidsRecorded() ? read.pid : null, `${read.by ?? "a monitor"} (term ${read.term})`);
        } catch (err) {
          return Response.json({ error: errorMessage(err) }, { status: 500 });
        }
        if (!result) return Response.json({ error: `no process named ${m[1]}` }, { status: 404 });
        return Response.json(result);
      }
      return Response.json({ error: "not found" }, { status: 404 });
    },
  });
  return {
    url: `http://127.0.0.1:${server.port}`,
    get term() {
      return highestTerm;
    },
    stop: () => server.stop(true),
  };
}
