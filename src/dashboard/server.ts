/**
 * The dashboard's HTTP server (Bun.serve), run by a monitor with --dashboard-port: GET / is the
 * page, GET /api/state the latest sample as JSON. Read-only; nothing else is served.
 */
import { CoffeeError, errorMessage } from "../errors.ts";
import { hostAllowed } from "../hostCheck.ts";
import { joinHostPort } from "../hostPort.ts";
import { DASHBOARD_CSP, DASHBOARD_HTML } from "./page.ts";
import { startSampler, type SamplerOptions } from "./state.ts";

/** The dashboard could not start (its port is taken, or the address is not this machine's). */
export class DashboardError extends CoffeeError {
  constructor(message: string) {
    super("DASHBOARD_UNAVAILABLE", message);
    this.name = "DashboardError";
  }
}

/** A running dashboard. */
export interface Dashboard {
  readonly url: string;
  stop(): void;
}

const NO_STORE = { "cache-control": "no-store", "x-content-type-options": "nosniff" };

/**
 * Sample once, then listen on host:port; throws DashboardError when the port cannot be bound.
 * Requests naming a Host other than this machine or `allowedHosts` get 403 (see src/hostCheck.ts).
 */
export async function startDashboard(opts: SamplerOptions & { host: string; port: number; allowedHosts?: readonly string[] }): Promise<Dashboard> {
  const sampler = await startSampler(opts);
  let server: ReturnType<typeof Bun.serve>;
  try {
    server = Bun.serve({
      hostname: opts.host,
      port: opts.port,
      fetch(req) {
        const path = new URL(req.url).pathname;
        if (!hostAllowed(req.headers.get("host"), opts.allowedHosts ?? [])) {
          return new Response("this dashboard answers only to this machine's addresses and names (--dashboard-allowed-hosts adds more)\n", { status: 403, headers: NO_STORE });
        }
        if (req.method !== "GET" && req.method !== "HEAD") return new Response("method not allowed\n", { status: 405, headers: { allow: "GET, HEAD" } });
        if (path === "/" || path === "/index.html") {
          return new Response(DASHBOARD_HTML, { headers: { ...NO_STORE, "content-type": "text/html; charset=utf-8", "content-security-policy": DASHBOARD_CSP, "referrer-policy": "no-referrer" } });
        }
        if (path === "/api/state") return Response.json(sampler.state(), { headers: NO_STORE });
        return new Response("not found\n", { status: 404, headers: NO_STORE });
      },
    });
  } catch (err) {
    sampler.stop();
    throw new DashboardError(`dashboard cannot listen on ${joinHostPort(opts.host, opts.port)}: ${errorMessage(err)}`);
  }
  const host = opts.host === "0.0.0.0" || opts.host === "::" ? "127.0.0.1" : opts.host;
  return {
    // A TCP server always has its port (Bun types it optional for unix sockets).
    url: `http://${joinHostPort(host, server.port ?? opts.port)}/`,
    stop: () => {
      sampler.stop();
      void server.stop(true);
    },
  };
}
