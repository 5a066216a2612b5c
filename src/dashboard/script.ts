/**
 * The dashboard's browser script (plain ES2017, no libraries): polls /api/state every second and
 * renders it with DOM calls (textContent only: names from the cluster file are never parsed as
 * HTML). Written without template literals so it can live in this string.
 */
export const DASHBOARD_JS = String.raw`
(function () {
  "use strict";
  var POLL_MS = 1000;
  var SVG = "http://www.w3.org/2000/svg";
  var ENTITY_LABEL = { transactions: "transactions", transaction_items: "items", users: "users", stores: "stores", menu_items: "menu" };

  function $(id) { return document.getElementById(id); }
  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined && text !== null) e.textContent = String(text);
    return e;
  }
  function fmt(n) { return n === null || n === undefined ? "–" : Math.round(n).toLocaleString("en-US"); }
  function fmtRate(n) { return n === null || n === undefined ? "–" : n >= 100 ? fmt(n) : (Math.round(n * 10) / 10).toLocaleString("en-US"); }
  function pad2(n) { return (n < 10 ? "0" : "") + n; }
  function uptime(s) {
    if (s === null || s === undefined) return "–";
    if (s < 60) return s + "s";
    if (s < 3600) return Math.floor(s / 60) + "m " + pad2(s % 60) + "s";
    if (s < 86400) return Math.floor(s / 3600) + "h " + pad2(Math.floor(s / 60) % 60) + "m";
    return Math.floor(s / 86400) + "d " + pad2(Math.floor(s / 3600) % 24) + "h";
  }
  function pill(text, kind) { return el("span", "pill " + kind, text); }
  function cell(row, content, cls) {
    var td = el("td", cls);
    if (content instanceof Node) td.appendChild(content); else td.textContent = content;
    row.appendChild(td);
    return td;
  }
  function emptyRow(tbody, cols, text) {
    var tr = el("tr"); var td = el("td", "empty", text);
    td.colSpan = cols; tr.appendChild(td); tbody.replaceChildren(tr);
  }
  function head(thead, names, numeric) {
    var tr = el("tr");
    names.forEach(function (n, i) { tr.appendChild(el("th", numeric && numeric.indexOf(i) >= 0 ? "num" : "", n)); });
    thead.replaceChildren(tr);
  }

  function renderHeader(s) {
    $("leader").textContent = s.election.leader || "electing…";
    $("term").textContent = String(s.election.term);
    $("served").textContent = s.servedBy;
    $("updated").textContent = new Date(s.at).toLocaleTimeString("en-GB");
  }

  function renderCards(s) {
    var healthy = s.processes.filter(function (p) { return p.healthy; }).length;
    $("c-procs").textContent = healthy + " / " + s.processes.length;
    $("c-procs-sub").textContent = healthy === s.processes.length ? "all healthy" : (s.processes.length - healthy) + " not answering";
    $("c-procs").className = "value" + (healthy === s.processes.length ? "" : " bad");
    $("c-leader").textContent = s.election.leader || "none";
    $("c-leader-sub").textContent = "term " + s.election.term + " · seen by " + s.servedBy;
    $("c-sessions").textContent = String(s.openSessions);
    $("c-sessions-sub").textContent = s.openSessions === 0 ? "no open sessions" : s.sessions.filter(function (x) { return x.connected; }).length + " connected";
    var rates = s.throughput.rowsPerS.filter(function (r) { return r !== null; });
    $("c-rate").textContent = rates.length ? fmtRate(rates[rates.length - 1]) : "–";
    $("c-rate-sub").textContent = "rows/s · " + fmt(s.throughput.rowsTotal) + " rows in total";
    var queued = s.queues ? s.queues.reduce(function (a, q) { return a + q.messages; }, 0) : null;
    $("c-queued").textContent = fmt(queued);
    $("c-queued-sub").textContent = s.queues ? "messages in " + s.queues.length + " queues" : "depths unavailable";
  }

  function renderChart(s) {
    var pts = s.throughput.rowsPerS;
    var svg = $("chart");
    var W = 600, H = 150, N = Math.max(pts.length, 2);
    var max = 0;
    pts.forEach(function (v) { if (v !== null && v > max) max = v; });
    var top = niceMax(max);
    var nodes = [];
    [0.5, 1].forEach(function (f) {
      var line = document.createElementNS(SVG, "line");
      line.setAttribute("x1", "0"); line.setAttribute("x2", String(W));
      line.setAttribute("y1", String(H - f * (H - 8))); line.setAttribute("y2", String(H - f * (H - 8)));
      line.setAttribute("stroke", "#eceef2"); line.setAttribute("vector-effect", "non-scaling-stroke");
      nodes.push(line);
    });
    // The x axis spans the history there is (at least 30 points), so a young cluster's curve is
    // not squeezed into the right edge of a five-minute window.
    var span = Math.max(pts.length, Math.min(30, s.throughput.windowPoints), 2);
    var x = function (i) { return (i + span - pts.length) * W / (span - 1); };
    var y = function (v) { return H - (v / top) * (H - 8); };
    var seg = [], segs = [];
    pts.forEach(function (v, i) {
      if (v === null) { if (seg.length) segs.push(seg); seg = []; return; }
      seg.push([x(i), y(v)]);
    });
    if (seg.length) segs.push(seg);
    segs.forEach(function (sg) {
      if (sg.length === 1) sg.push([sg[0][0] + 0.01, sg[0][1]]);
      var d = sg.map(function (p, i) { return (i ? "L" : "M") + p[0].toFixed(1) + " " + p[1].toFixed(1); }).join(" ");
      var area = document.createElementNS(SVG, "path");
      area.setAttribute("d", d + " L" + sg[sg.length - 1][0].toFixed(1) + " " + H + " L" + sg[0][0].toFixed(1) + " " + H + " Z");
      area.setAttribute("fill", "rgba(192,133,82,.18)");
      var line = document.createElementNS(SVG, "path");
      line.setAttribute("d", d); line.setAttribute("fill", "none"); line.setAttribute("stroke", "#a0673a");
      line.setAttribute("stroke-width", "2"); line.setAttribute("vector-effect", "non-scaling-stroke");
      line.setAttribute("stroke-linejoin", "round");
      nodes.push(area, line);
    });
    svg.replaceChildren.apply(svg, nodes);
    $("ymax").textContent = fmt(top) + " rows/s";
    $("ymid").textContent = fmt(top / 2);
    var spanS = Math.round(span * s.throughput.intervalMs / 1000);
    $("xmin").textContent = "−" + (spanS < 120 ? spanS + " s" : Math.round(spanS / 60) + " min");
    var known = pts.filter(function (v) { return v !== null; });
    var lastMin = known.slice(-60);
    $("chart-sub").textContent = known.length ? "now " + fmtRate(known[known.length - 1]) + " rows/s · last minute avg " + fmtRate(lastMin.reduce(function (a, b) { return a + b; }, 0) / lastMin.length) + " · peak " + fmtRate(max) : "no samples yet";
  }
  function niceMax(v) {
    if (!(v > 0)) return 10;
    var p = Math.pow(10, Math.floor(Math.log10(v)));
    var steps = [1, 2, 2.5, 5, 10];
    for (var i = 0; i < steps.length; i++) if (steps[i] * p >= v) return steps[i] * p;
    return 10 * p;
  }

  function renderSessions(s) {
    var thead = $("sessions-head"), tbody = $("sessions-body");
    head(thead, ["session", "client", "age / still"].concat(s.entities.map(function (e) { return ENTITY_LABEL[e] || e; }), s.queries.map(function (q) { return q.toUpperCase(); })));
    $("sessions-sub").textContent = s.sessions.length < s.openSessions ? "showing " + s.sessions.length + " of " + s.openSessions : "age / still: since the gateway took it on / since it last moved · rows acknowledged per entity (✓ = upload complete) · result chunks stored / delivered per query";
    if (s.sessions.length === 0) return emptyRow(tbody, 3 + s.entities.length + s.queries.length, "No open sessions.");
    var rows = s.sessions.map(function (x) {
      var tr = el("tr");
      var total = 0;
      s.entities.forEach(function (e) { total += x.rows[e] || 0; });
      tr.setAttribute("data-session", x.id);
      tr.setAttribute("data-rows", String(total));
      cell(tr, x.id, "mono");
      cell(tr, pill(x.connected ? "connected" : "away", x.connected ? "ok" : "warn"));
      // Since the gateway took it on / since it last moved: a stuck session from a slow one (absent from older gateways).
      cell(tr, x.ageS === undefined || x.stillS === undefined ? "–" : x.ageS + " s / " + x.stillS + " s", "mono");
      s.entities.forEach(function (e) {
        var box = el("div", "progress");
        box.appendChild(el("span", "rows", fmt(x.rows[e] || 0)));
        var done = x.eos.indexOf(e) >= 0;
        box.appendChild(el("span", done ? "check" : "pending", done ? "✓" : "…"));
        cell(tr, box);
      });
      s.queries.forEach(function (q) {
        var r = x.results[q];
        var box = el("div", "progress");
        box.appendChild(el("span", "", r.stored + " / " + r.delivered));
        box.appendChild(el("span", r.complete ? "check" : "pending", r.complete ? "✓" : "…"));
        cell(tr, box);
      });
      return tr;
    });
    tbody.replaceChildren.apply(tbody, rows);
  }

  function renderProcesses(s) {
    var tbody = $("procs-body");
    $("procs-sub").textContent = s.processes.length + " processes";
    if (s.processes.length === 0) return emptyRow(tbody, 10, "No processes in the cluster file yet.");
    tbody.replaceChildren.apply(tbody, s.processes.map(function (p) {
      var tr = el("tr");
      tr.setAttribute("data-process", p.name);
      tr.setAttribute("data-healthy", String(p.healthy));
      var name = el("span", "mono", p.name);
      var first = el("span");
      first.appendChild(name);
      if (p.name === s.election.leader) first.appendChild(pill("leader", "lead"));
      cell(tr, first);
      cell(tr, p.role);
      cell(tr, pill(p.healthy ? "healthy" : "down", p.healthy ? "ok" : "bad"));
      cell(tr, p.state || "–");
      cell(tr, p.pid === null ? "–" : String(p.pid), "num mono");
      cell(tr, uptime(p.uptimeS), "num");
      cell(tr, p.rssMb === null ? "–" : p.rssMb + " MB", "num");
      cell(tr, p.heapMb === null ? "–" : p.heapMb + " MB", "num");
      cell(tr, p.restarts === null ? "–" : String(p.restarts), "num");
      cell(tr, p.info, "info");
      return tr;
    }));
  }

  function renderQueues(s) {
    var tbody = $("queues-body");
    if (s.queues === null) return emptyRow(tbody, 3, "Queue depths unavailable: the gateway does not answer or cannot reach the broker.");
    if (s.queues.length === 0) return emptyRow(tbody, 3, "No queues declared.");
    var max = Math.max.apply(null, s.queues.map(function (q) { return q.messages; }).concat([1]));
    tbody.replaceChildren.apply(tbody, s.queues.map(function (q) {
      var tr = el("tr");
      tr.setAttribute("data-queue", q.queue);
      // Empty and unconsumed: a stage's queue that a fused deployment does not use.
      if (q.messages === 0 && q.consumers === 0) tr.className = "idle";
      cell(tr, q.queue, "mono");
      var bar = el("div", "bar"); var fill = el("div");
      fill.style.width = (100 * q.messages / max).toFixed(1) + "%";
      bar.appendChild(fill);
      var box = el("div", "progress");
      box.appendChild(el("span", "rows", fmt(q.messages)));
      box.appendChild(bar);
      cell(tr, box);
      cell(tr, String(q.consumers), "num");
      return tr;
    }));
  }

  function render(s) {
    renderHeader(s); renderCards(s); renderChart(s); renderSessions(s); renderProcesses(s); renderQueues(s);
  }

  function setLive(ok) {
    $("live").className = "live" + (ok ? "" : " lost");
    $("live").textContent = ok ? "live" : "disconnected";
    $("banner").className = "banner" + (ok ? "" : " show");
  }

  function poll() {
    fetch("/api/state", { cache: "no-store" })
      .then(function (r) { if (!r.ok) throw new Error("HTTP " + r.status); return r.json(); })
      .then(function (s) { render(s); setLive(true); document.body.setAttribute("data-polls", String(Number(document.body.getAttribute("data-polls") || "0") + 1)); })
      .catch(function () { setLive(false); })
      .then(function () { setTimeout(poll, POLL_MS); });
  }
  poll();
})();
`;
