/**
 * The dashboard page: one HTML document with its stylesheet and script inline, compiled into the
 * binary. Its Content-Security-Policy allows exactly that inline script and style (by hash) and
 * requests to its own origin, so the browser itself refuses anything from outside.
 */
import { createHash } from "node:crypto";
import { DASHBOARD_JS } from "./script.ts";
import { DASHBOARD_CSS } from "./style.ts";

const sha256 = (text: string): string => `'sha256-${createHash("sha256").update(text, "utf8").digest("base64")}'`;

/** The page's Content-Security-Policy header. */
export const DASHBOARD_CSP = [
  "default-src 'none'",
  `script-src ${sha256(DASHBOARD_JS)}`,
  `style-src ${sha256(DASHBOARD_CSS)}`,
  "connect-src 'self'",
  "img-src data:",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join("; ");

const card = (id: string, label: string): string =>
  `<div class="card"><div class="label">${label}</div><div class="value" id="${id}">–</div><div class="sub" id="${id}-sub">&nbsp;</div></div>`;

/** The whole page. */
export const DASHBOARD_HTML = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>coffee · cluster dashboard</title>
<link rel="icon" href="data:,">
<style>${DASHBOARD_CSS}</style>
</head>
<body>
<header>
  <h1>coffee <span>cluster dashboard</span></h1>
  <div class="meta">
    <span>leader <b id="leader">–</b> · term <b id="term">–</b></span>
    <span>served by <span id="served">–</span></span>
    <span>updated <span id="updated">–</span></span>
    <span id="live" class="live">connecting</span>
  </div>
</header>
<main>
  <div id="banner" class="banner">The dashboard's monitor does not answer; retrying every second.</div>
  <div class="cards">
    ${card("c-procs", "Processes")}
    ${card("c-leader", "Leader")}
    ${card("c-sessions", "Open sessions")}
    ${card("c-rate", "Ingest")}
    ${card("c-queued", "Queued")}
  </div>
  <div class="grid2">
    <section>
      <h2>Throughput <small id="chart-sub"></small></h2>
      <div class="chart">
        <svg id="chart" viewBox="0 0 600 150" preserveAspectRatio="none" role="img" aria-label="rows per second at the gateway"></svg>
        <span class="ylabel ymax" id="ymax"></span><span class="ylabel ymid" id="ymid"></span>
      </div>
      <div class="axis"><span id="xmin">–</span><span>rows/s into the gateway</span><span>now</span></div>
    </section>
    <section>
      <h2>Queues <small>messages ready · consumers</small></h2>
      <table><thead><tr><th>queue</th><th>ready</th><th class="num">consumers</th></tr></thead><tbody id="queues-body"></tbody></table>
    </section>
  </div>
  <section>
    <h2>Sessions <small id="sessions-sub"></small></h2>
    <table><thead id="sessions-head"></thead><tbody id="sessions-body"></tbody></table>
  </section>
  <section>
    <h2>Processes <small id="procs-sub"></small></h2>
    <table>
      <thead><tr><th>name</th><th>role</th><th>health</th><th>state</th><th class="num">pid</th><th class="num">uptime</th><th class="num">rss</th><th class="num">heap</th><th class="num">restarts</th><th>info</th></tr></thead>
      <tbody id="procs-body"></tbody>
    </table>
  </section>
</main>
<script>${DASHBOARD_JS}</script>
</body>
</html>
`;
