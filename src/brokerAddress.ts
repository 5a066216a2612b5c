/**
 * Where and how to reach RabbitMQ. The URL carries credentials, so it is a secret option (env
 * `AMQP_URL` or a file, never a flag, never logged unredacted); `amqps://` URLs connect over TLS,
 * trusting the CA bundle in `--amqp-ca-file` (a private CA) or else the system's CAs.
 */
import { readFileSync } from "node:fs";
import { isIP } from "node:net";
import { checkServerIdentity, type PeerCertificate } from "node:tls";
import { connect, type ChannelModel } from "amqplib";
import { CoffeeError, ConfigError, errorMessage } from "./errors.ts";
import { optStr, str, type OptionSpec, type OptionValues } from "./options.ts";
import { brokerNodes } from "./brokerNodes.ts";
import { redactIn, redactUrl } from "./redact.ts";

/** Default broker URL (every role's AMQP_URL default). */
export const DEFAULT_AMQP_URL = "amqp://guest:guest@127.0.0.1:5672";

/** A broker to connect to: its URL and, for amqps://, the TLS material to trust it with. */
export interface BrokerAddress {
  /** One node's URL, or several nodes of one RabbitMQ cluster, comma-separated (src/brokerNodes.ts). */
  url: string;
  /** PEM CA bundle file trusted for amqps:// (undefined: the system's CAs). */
  caFile?: string;
}

/** The broker options every broker-connected role and tool takes. */
export function brokerOptions(urlHelp = "RabbitMQ URL, amqp:// or amqps:// (TLS)"): OptionSpec[] {
  return [
    { name: "amqp-url", type: "string", env: "AMQP_URL", default: DEFAULT_AMQP_URL, secret: true, help: `${urlHelp}; several nodes of one RabbitMQ cluster comma-separated, tried in turn` },
    { name: "amqp-ca-file", type: "string", env: "AMQP_CA_FILE", help: "PEM CA bundle to trust for amqps://", defaultText: "the system's CAs" },
  ];
}

/** Read and check the broker options: a known scheme, and a readable CA file when one is named. */
export function brokerAddress(values: OptionValues): BrokerAddress {
  const url = str(values, "amqp-url");
  const caFile = optStr(values, "amqp-ca-file");
  const nodes = brokerNodes(url);
  if (nodes.length === 0) throw new ConfigError(`AMQP_URL is empty; give the broker's URL, e.g. ${DEFAULT_AMQP_URL.replace(/:guest@/, ":***@")}`);
  for (const node of nodes) {
    if (!/^amqps?:\/\//.test(node)) throw new ConfigError(`AMQP_URL must start with amqp:// or amqps://, got "${redactUrl(node)}"`);
    // Caught here, not taken for a broker that does not answer (which coffee up would replace by a private one).
    if (hostOf(node) === "") throw new ConfigError(`AMQP_URL: "${redactUrl(node)}" is not a broker URL: amqp://user:password@host:port/vhost, the port a number up to 65535, special characters of the password %-encoded`);
  }
  if (caFile !== undefined) {
    try {
      readFileSync(caFile);
    } catch (err) {
      throw new ConfigError(`--amqp-ca-file: cannot read ${caFile} (${(err as NodeJS.ErrnoException).code ?? String(err)})`);
    }
  }
  return caFile === undefined ? { url } : { url, caFile };
}

/** amqplib socket options for `node` (one of `addr`'s URLs): the CA bundle for TLS, plus any extra (timeouts). */
export function socketOptions(addr: BrokerAddress, node: string, extra: Record<string, unknown> = {}): Record<string, unknown> {
  if (!node.startsWith("amqps:")) return extra;
  const out: Record<string, unknown> = { ...extra };
  if (addr.caFile !== undefined) out.ca = [readFileSync(addr.caFile)];
  const host = hostOf(node);
  if (isIP(host)) {
    // amqplib passes the URL's host as the TLS server name, and Bun refuses an IP there (RFC
    // 6066 allows only DNS names in SNI). Send a neutral name instead and check the certificate
    // against the IP ourselves, so verification stays as strict as for a DNS host.
    out.servername = "amqp-broker.invalid";
    out.checkServerIdentity = (_name: string, cert: PeerCertificate) => checkServerIdentity(host, cert);
  }
  return out;
}

/** The host part of an amqp(s) URL, without IPv6 brackets. */
function hostOf(url: string): string {
  try {
    return new URL(url).hostname.replace(/^\[(.*)\]$/, "$1");
  } catch {
    return "";
  }
}

/**
 * How long a connection's TCP and AMQP handshake may stay silent: a node whose host is gone
 * drops SYNs, and without this the next node of a cluster would wait for the kernel's ~2 min.
 */
export const CONNECT_TIMEOUT_MS = 10_000;

/** Separates the nodes' failures in connectBroker's error, so each can be classified alone. */
const NODE_FAILURES_SEPARATOR = " | ";

/** How connectBroker connects: amqplib socket options, the URL as sent, and which node first. */
export interface ConnectOptions {
  /** amqplib socket options beside TLS's; `timeout` (the handshake's) is CONNECT_TIMEOUT_MS unless given. */
  extra?: Record<string, unknown>;
  /** The URL as sent (e.g. with a heartbeat added); the node's own by default. */
  shape?: (node: string) => string;
  /** Index of the node tried first; the others follow in list order, wrapping round. */
  start?: number;
}

/** An open connection and the node (index into brokerNodes of the address) it is to. */
export interface BrokerConnection {
  conn: ChannelModel;
  node: number;
}

/**
 * Open one AMQP connection to the first of `addr`'s nodes that takes it, each tried once (no
 * retry; the transport owns reconnecting). With one node its error is thrown as it is; with
 * several, one error names each node's failure.
 */
export async function connectBroker(addr: BrokerAddress, opts: ConnectOptions = {}): Promise<BrokerConnection> {
  const nodes = brokerNodes(addr.url);
  const failures: string[] = [];
  for (let k = 0; k < nodes.length; k++) {
    const node = ((opts.start ?? 0) + k) % nodes.length;
    const url = nodes[node]!;
    try {
      return { conn: await connect(opts.shape ? opts.shape(url) : url, socketOptions(addr, url, { timeout: CONNECT_TIMEOUT_MS, ...opts.extra })), node };
    } catch (err) {
      if (nodes.length === 1) throw err;
      failures.push(`${redactUrl(url)}: ${redactIn(errorMessage(err), url)}`);
    }
  }
  throw new CoffeeError("BROKER_UNAVAILABLE", `no node of the RabbitMQ cluster took the connection: ${failures.join(NODE_FAILURES_SEPARATOR)}`);
}

/** The environment that hands `addr` to a child process (the URL in env, never in argv). */
export function brokerEnv(addr: BrokerAddress): Record<string, string> {
  // An inherited AMQP_URL_FILE would clash with AMQP_URL in the child: blank it.
  return { AMQP_URL: addr.url, AMQP_URL_FILE: "", ...(addr.caFile !== undefined ? { AMQP_CA_FILE: addr.caFile } : {}) };
}

/**
 * True when a connection failure (`brokerProbe`, a role's first connect) shows something
 * answered and refused us: a broker's credentials, vhost or permissions (AMQP 403
 * ACCESS_REFUSED, 530 NOT_ALLOWED), a TLS certificate we do not trust, or TLS spoken to a plain
 * port (or the other way round). No fallback or retry should paper over those. A connection limit
 * that is reached (also 530) clears by itself, as a killed process's connections time out, so it
 * is not one. Anything else (refused, unreachable, reset, timed out, closed during the
 * handshake) counts as nothing answering, and the fallback's log line says which.
 */
export function brokerRefusedUs(failure: string): boolean {
  // With several nodes, each node's failure on its own: one closing as it opened must not hide another's refusal.
  return failure.split(NODE_FAILURES_SEPARATOR).some(refusedUs);
}

function refusedUs(failure: string): boolean {
  if (brokerClosedAtOpen(failure)) return false;
  return /ACCESS[-_]REFUSED|NOT[-_]ALLOWED|certificate|CERT_|altname|self.signed|unable to verify|wrong version number|EPROTO|ssl3?_|tlsv1 alert|handshake failure/i.test(failure);
}

/**
 * True when a broker answered and closed the connection as it opened: its vhost does not exist,
 * or the vhost or user is at its connection limit. amqplib keeps the broker's reason to itself
 * ("Expected ConnectionOpenOk; got <ConnectionClose channel:0>"), so which one cannot be told:
 * no fallback may replace such a broker, yet waiting may clear it.
 */
export function brokerClosedAtOpen(failure: string): boolean {
  return /connection limit \(\d+\) is reached|Expected ConnectionOpenOk; got <ConnectionClose/i.test(failure);
}

/** What such a failure means, said beside it since amqplib's own words do not say. */
export const CLOSED_AT_OPEN_CAUSE = "the vhost in AMQP_URL does not exist, or it or the user is at its connection limit";
