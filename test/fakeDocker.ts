/**
 * A fake Docker Engine API on a UNIX socket, for testing the dockerode revival backend where no
 * real engine is available. It implements what dockerode sends for a revival, with the engine's
 * semantics (checked against dockerode 5 / docker-modem 5 and the Engine API reference):
 *
 *   GET  [/vX.Y]/containers/json?all=true&filters={"label":[...],"name":[...]}
 *        → 200 [{ Id, Names, Image, Labels, State, Status }]; without `all` only running ones;
 *          `label` entries are `key` or `key=value` (all must match), `name` entries are
 *          unanchored regexps against the name with its leading "/" (any may match); an
 *          unknown filter key → 400, as the engine does.
 *   POST [/vX.Y]/containers/{id|name|id-prefix}/start
 *        → 204 started | 304 already running | 404 unknown | injected failures (`failStarts`)
 *   POST [/vX.Y]/containers/{ref}/restart?t=N → 204 (running after) | 404; 409 if paused
 *   POST [/vX.Y]/containers/{ref}/unpause     → 204 | 404; 409 if not paused
 *   GET  [/vX.Y]/_ping → 200 "OK" (not used by the revival backend)
 *
 * Every request is recorded (method, raw path, API version prefix, query, body) in `requests`.
 * docker-modem drops the "?" when there are no options, so `start()` is `POST /containers/ID/start`.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

/** A container the fake knows about. */
export interface FakeContainer {
  Id: string;
  /** With the engine's leading slash, e.g. ["/coffee-worker-1-1"]. */
  Names: string[];
  Labels: Record<string, string>;
  /** "running", "exited", "created", ... */
  State: string;
  Image?: string;
}

/** One request as the fake received it. */
export interface RecordedRequest {
  method: string;
  /** Path as received, API version prefix included if any (no query string). */
  path: string;
  /** The `/vX.Y` prefix, without slashes ("v1.43"), or null if the request had none. */
  apiVersion: string | null;
  /** Query parameters, decoded. */
  query: Record<string, string>;
  body: string;
  /** HTTP status the fake answered with (0 while the request is still being handled). */
  status: number;
}

/** An injected failure of the start endpoint. */
export interface StartFailure {
  /** How many start calls fail (then the endpoint behaves normally again). */
  times: number;
  /** HTTP status, default 500. */
  status?: number;
  /** Engine-style error message, default "fake engine failure". */
  message?: string;
  /** Only calls for this container id fail (default: any). */
  id?: string;
}

/** A running fake engine. */
export interface FakeDocker {
  /** The UNIX socket path to give dockerode as `socketPath`. */
  readonly socketPath: string;
  /** Every request received, in order. */
  readonly requests: RecordedRequest[];
  /** The containers (mutable: tests may change `State` to simulate a crash). */
  readonly containers: FakeContainer[];
  /** Requests as "METHOD path?k=v&..." strings (query decoded, in received order), for compact exact assertions. */
  calls(): string[];
  /** Make the next `times` start calls fail. */
  failStarts(failure: StartFailure): void;
  /** Delay every start response by `ms` (default 0). */
  setStartDelay(ms: number): void;
  /** Stop serving and remove the socket's directory. */
  stop(): Promise<void>;
}

const VERSION_PREFIX = /^\/(v\d+\.\d+)(\/.*)$/;

function engineError(status: number, message: string): Response {
  return Response.json({ message }, { status });
}

/** The engine's boolean query parsing (strconv.ParseBool-like; "" and absent are false). */
function queryBool(v: string | null): boolean {
  return v !== null && ["1", "t", "T", "true", "TRUE", "True"].includes(v);
}

/** Decode `filters` in either accepted form: {"k":["v"]} or {"k":{"v":true}}. Null if malformed. */
function parseFilters(raw: string | null): Map<string, string[]> | null {
  const out = new Map<string, string[]>();
  if (raw === null || raw === "") return out;
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw);
  } catch {
    return null;
  }
  if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) return null;
  for (const [key, value] of Object.entries(parsed)) {
    if (Array.isArray(value) && value.every((v): v is string => typeof v === "string")) out.set(key, value);
    else if (typeof value === "object" && value !== null) out.set(key, Object.keys(value));
    else return null;
  }
  return out;
}

function labelMatches(c: FakeContainer, filter: string): boolean {
  const eq = filter.indexOf("=");
  if (eq < 0) return Object.hasOwn(c.Labels, filter);
  const key = filter.slice(0, eq);
  return Object.hasOwn(c.Labels, key) && c.Labels[key] === filter.slice(eq + 1);
}

function nameMatches(c: FakeContainer, pattern: string): boolean {
  let re: RegExp;
  try {
    re = new RegExp(pattern);
  } catch {
    return c.Names.some((n) => n.includes(pattern));
  }
  return c.Names.some((n) => re.test(n));
}

/** Start a fake engine on a fresh socket in a temporary directory. */
export function startFakeDocker(opts: { containers?: FakeContainer[] } = {}): FakeDocker {
  // a short path: UNIX socket paths are limited to ~107 bytes
  const dir = mkdtempSync(join(tmpdir(), "fkd-"));
  const socketPath = join(dir, "docker.sock");
  const requests: RecordedRequest[] = [];
  const containers: FakeContainer[] = (opts.containers ?? []).map((c) => ({ ...c, Names: [...c.Names], Labels: { ...c.Labels } }));
  const failures: StartFailure[] = [];
  let startDelayMs = 0;

  function find(ref: string): FakeContainer | undefined {
    const exact = containers.find((c) => c.Id === ref || c.Names.includes(`/${ref}`) || c.Names.includes(ref));
    if (exact) return exact;
    const byPrefix = containers.filter((c) => c.Id.startsWith(ref));
    return byPrefix.length === 1 ? byPrefix[0] : undefined;
  }

  function list(query: URLSearchParams): Response {
    const filters = parseFilters(query.get("filters"));
    if (!filters) return engineError(400, "invalid filter: malformed JSON");
    for (const key of filters.keys()) if (key !== "label" && key !== "name") return engineError(400, `invalid filter '${key}'`);
    const labels = filters.get("label") ?? [];
    const names = filters.get("name") ?? [];
    const all = queryBool(query.get("all"));
    const matching = containers.filter(
      (c) => (all || c.State === "running") && labels.every((l) => labelMatches(c, l)) && (names.length === 0 || names.some((n) => nameMatches(c, n))),
    );
    return Response.json(
      matching.map((c) => ({ Id: c.Id, Names: c.Names, Image: c.Image ?? "coffee:latest", Labels: c.Labels, State: c.State, Status: c.State === "running" ? "Up 1 second" : "Exited (137) 1 second ago" })),
    );
  }

  async function start(ref: string): Promise<Response> {
    if (startDelayMs > 0) await Bun.sleep(startDelayMs);
    const c = find(ref);
    const i = failures.findIndex((f) => f.times > 0 && (f.id === undefined || f.id === c?.Id));
    const failure = i >= 0 ? failures[i] : undefined;
    if (failure) {
      failure.times--;
      if (failure.times === 0) failures.splice(i, 1);
      return engineError(failure.status ?? 500, failure.message ?? "fake engine failure");
    }
    if (!c) return engineError(404, `No such container: ${ref}`);
    if (c.State === "running") return new Response(null, { status: 304 });
    c.State = "running";
    return new Response(null, { status: 204 });
  }

  async function respond(method: string, route: string, query: URLSearchParams): Promise<Response> {
    if (method === "GET" && route === "/_ping") return new Response("OK", { headers: { "content-type": "text/plain" } });
    if (method === "GET" && route === "/containers/json") return list(query);
    const s = /^\/containers\/([^/]+)\/start$/.exec(route);
    if (method === "POST" && s) return start(decodeURIComponent(s[1] ?? ""));
    const r = /^\/containers\/([^/]+)\/(restart|unpause)$/.exec(route);
    if (method === "POST" && r) {
      const c = find(decodeURIComponent(r[1] ?? ""));
      if (!c) return engineError(404, `No such container: ${r[1]}`);
      if (r[2] === "restart") {
        if (c.State === "paused") return engineError(409, "Cannot restart container: container is paused. Unpause the container before stopping or killing");
        c.State = "running";
      } else {
        if (c.State !== "paused") return engineError(409, `Container ${c.Id} is not paused`);
        c.State = "running";
      }
      return new Response(null, { status: 204 });
    }
    return engineError(404, "page not found");
  }

  const server = Bun.serve({
    unix: socketPath,
    async fetch(req) {
      const url = new URL(req.url);
      const body = await req.text();
      const m = VERSION_PREFIX.exec(url.pathname);
      const route = m ? (m[2] ?? "/") : url.pathname;
      const record: RecordedRequest = { method: req.method, path: url.pathname, apiVersion: m?.[1] ?? null, query: Object.fromEntries(url.searchParams), body, status: 0 };
      requests.push(record);
      const res = await respond(req.method, route, url.searchParams);
      record.status = res.status;
      return res;
    },
  });

  return {
    socketPath,
    requests,
    containers,
    calls: () =>
      requests.map((r) => {
        const q = Object.entries(r.query).map(([k, v]) => `${k}=${v}`).join("&");
        return `${r.method} ${r.path}${q ? `?${q}` : ""}`;
      }),
    failStarts: (f) => void failures.push({ ...f }),
    setStartDelay: (ms) => void (startDelayMs = ms),
    stop: async () => {
      await server.stop(true);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
