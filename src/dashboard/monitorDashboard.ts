/** How a monitor runs the dashboard: from its --dashboard-port / --dashboard-host options. */
import type { Logger } from "../log.ts";
import { DashboardError, startDashboard, type Dashboard } from "./server.ts";
import type { ElectionView } from "./state.ts";

/** One sample (and one throughput point) per second. */
const SAMPLE_MS = 1000;
/** Five minutes of throughput. */
const HISTORY_POINTS = 300;

/** The monitor's --dashboard-port (0 = off), --dashboard-host and --dashboard-allowed-hosts. */
export interface MonitorDashboardConfig {
  port: number;
  host: string;
  allowedHosts: string[];
}

/**
 * Start the dashboard when --dashboard-port is set; null when it is off or cannot listen. A port
 * that cannot be bound is logged, not fatal: the monitor's work is electing and reviving, and it
 * must go on without its page.
 */
export async function startMonitorDashboard(
  cfg: MonitorDashboardConfig,
  opts: { clusterFile: string; servedBy: string; timeoutMs: number; election: () => ElectionView; log: Logger },
): Promise<Dashboard | null> {
  const { port, host, allowedHosts } = cfg;
  if (port === 0) return null;
  try {
    const dashboard = await startDashboard({
      host, port, allowedHosts, clusterFile: opts.clusterFile, servedBy: opts.servedBy, election: opts.election,
      timeoutMs: opts.timeoutMs, intervalMs: SAMPLE_MS, historyPoints: HISTORY_POINTS,
    });
    opts.log.info(`dashboard on ${dashboard.url}`);
    return dashboard;
  } catch (err) {
    if (!(err instanceof DashboardError)) throw err;
    opts.log.error(`${err.code}: ${err.message}; running without it`);
    return null;
  }
}
