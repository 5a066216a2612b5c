/**
 * Every COFFEE_* environment variable coffee reads, to tell a user about one it does not: an
 * option's variable that was misspelt, or renamed since the compose file that sets it was
 * written (COFFEE_MAX_FIELD_CHARS became COFFEE_MAX_FIELD_BYTES), is otherwise ignored without a
 * word, and the option silently keeps its default. Kept as a list rather than read from every
 * command's options, which would load every command's code into every process
 * (src/commandRegistry.ts); knownEnv.test.ts checks that the two agree.
 */

/** The variables of coffee's options (`OptionSpec.env`, and `<env>_FILE` for a secret). */
export const OPTION_ENV_NAMES: readonly string[] = [
  "COFFEE_BATCH_BYTES", "COFFEE_BATCH_ROWS", "COFFEE_CHAIN", "COFFEE_CHECK_INTERVAL_MS",
  "COFFEE_CHECK_MISSES", "COFFEE_CHECK_TIMEOUT_MS", "COFFEE_CHUNK_BYTES",
  "COFFEE_CLIENT_HEARTBEAT_MS", "COFFEE_CLIENT_IDLE_S", "COFFEE_CLUSTER_FILE",
  "COFFEE_COMPOSE_BROKER", "COFFEE_COMPOSE_SERVICES", "COFFEE_CONFIRM_TIMEOUT_MS",
  "COFFEE_CONNECT_RETRY_S", "COFFEE_CONTROL_KEY", "COFFEE_CONTROL_KEY_FILE", "COFFEE_CONTROL_URL", "COFFEE_DASHBOARD_ALLOWED_HOSTS",
  "COFFEE_DASHBOARD_HOST", "COFFEE_DASHBOARD_PORT", "COFFEE_DATA", "COFFEE_DEPLOY",
  "COFFEE_ELECTION_HOST", "COFFEE_ELECTION_KEY", "COFFEE_ELECTION_KEY_FILE", "COFFEE_ELECTION_PORT", "COFFEE_GATEWAY", "COFFEE_GEN_MENU_ITEMS",
  "COFFEE_GEN_MONTHS", "COFFEE_GEN_OUT", "COFFEE_GEN_QUIET", "COFFEE_GEN_SEED",
  "COFFEE_GEN_STORES", "COFFEE_GEN_TRANSACTIONS_PER_MONTH", "COFFEE_GEN_USERS",
  "COFFEE_HANDSHAKE_TIMEOUT_MS", "COFFEE_HEAP_LIMIT_MB", "COFFEE_HEARTBEAT_MS",
  "COFFEE_HUNG_AFTER_MS", "COFFEE_IDLE_TIMEOUT_S", "COFFEE_IMAGE", "COFFEE_LEADER_TIMEOUT_MS",
  "COFFEE_LOG_MAX_MB", "COFFEE_MAX_BACKLOG", "COFFEE_MAX_BATCH_ROWS", "COFFEE_MAX_FIELD_BYTES",
  "COFFEE_MAX_FRAME_BYTES", "COFFEE_MAX_HANDSHAKES", "COFFEE_MAX_IN_FLIGHT",
  "COFFEE_MAX_IN_FLIGHT_BYTES", "COFFEE_MAX_OUTBOX_BYTES", "COFFEE_MAX_SESSIONS",
  "COFFEE_MAX_UNCONFIRMED", "COFFEE_METRICS_HOST", "COFFEE_METRICS_PORT", "COFFEE_MONITORS",
  "COFFEE_MONITOR_ID", "COFFEE_MONITOR_PEERS", "COFFEE_NAME", "COFFEE_NAMESPACE", "COFFEE_OUT",
  "COFFEE_PING_READY", "COFFEE_PING_TIMEOUT_MS", "COFFEE_PING_TO", "COFFEE_PREFETCH", "COFFEE_PROGRESS_MS",
  "COFFEE_QUERY", "COFFEE_QUEUE_TYPE", "COFFEE_RECONNECT_MAX_MS", "COFFEE_RECONNECT_TIMEOUT_S",
  "COFFEE_REPLICAS", "COFFEE_RESTART", "COFFEE_RESULT_TIMEOUT_S", "COFFEE_REVIVE",
  "COFFEE_REVIVE_INITIAL_MS", "COFFEE_REVIVE_MAX_ATTEMPTS", "COFFEE_REVIVE_MAX_MS",
  "COFFEE_SESSION_TTL_S", "COFFEE_SPILL_ROWS", "COFFEE_STAGE", "COFFEE_STATE_DIR", "COFFEE_TOKEN", "COFFEE_TOKEN_FILE",
  "COFFEE_TRANSPORT", "COFFEE_WAIT_FOR_SLOT_S", "COFFEE_WINDOW",
];

/** COFFEE_* variables read by something other than an option, and by what. */
export const OTHER_ENV_NAMES: Readonly<Record<string, string>> = {
  COFFEE_PARENT_PID: "set by coffee up for its children (src/parentWatch.ts)",
  COFFEE_CRASH_POINTS_DIR: "tests that kill a process at a named step (src/crashPoint.ts)",
  COFFEE_UID: "the compose file's user for coffee services",
  COFFEE_GID: "the compose file's group for coffee services",
  COFFEE_GATEWAY_BIND: "the compose file's address for the gateway's published port",
  COFFEE_UPDATE_SCREENSHOT: "test/dashboard.test.ts, which then rewrites the README's screenshot",
};

const KNOWN = new Set([...OPTION_ENV_NAMES, ...Object.keys(OTHER_ENV_NAMES)]);

/**
 * What Kubernetes sets in every pod for each Service (COFFEE_GATEWAY_SERVICE_HOST,
 * COFFEE_GATEWAY_PORT_9000_TCP_ADDR... for a Service named coffee-gateway): not the user's.
 */
const KUBERNETES_SERVICE_ENV = /_SERVICE_HOST$|_SERVICE_PORT(_[A-Z0-9_]+)?$|_PORT$|_PORT_\d+_(TCP|UDP|SCTP)(_PROTO|_PORT|_ADDR)?$/;

/** The COFFEE_* names set in `env` that coffee does not read, sorted. */
export function unknownCoffeeEnv(env: Record<string, string | undefined>): string[] {
  return Object.keys(env).filter((name) => name.startsWith("COFFEE_") && env[name] !== undefined && !KNOWN.has(name) && !KUBERNETES_SERVICE_ENV.test(name)).sort();
}

/** A warning line per such name (empty when there is none). */
export function unknownEnvWarnings(env: Record<string, string | undefined>): string[] {
  return unknownCoffeeEnv(env).map((name) => `coffee: warning: ${name} is set, but no coffee option reads it (misspelt, or renamed? coffee --help lists every variable); ignored\n`);
}
