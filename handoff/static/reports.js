/*
 * The console's "Informes" view, for supervisors only (docs/reports.md):
 * GET /api/reports/summary and /api/reports/conversations.csv with the
 * console's token in `Authorization: Bearer` (never in a URL); the CSV is
 * fetched and saved from a Blob. The tab exists only when the bridge's
 * `authenticated` frame says `role: "supervisor"`; the API refuses anyone
 * else anyway (403).
 *
 * agent.js calls AuroraReports.start({ token: fn, onUnauthorized: fn }) once,
 * AuroraReports.signedIn(agent) after every `authenticated` frame and
 * AuroraReports.signedOut() on sign-out. Figures are written in es-ES; a
 * figure the API gives as null is "—".
 */
(function () {
  "use strict";

  var CHANNELS = { web: "Web", telegram: "Telegram" };
  var opts = null;
  var role = null;
  var rangeChosen = false;   // the supervisor asked for a range ("Ver informe"); else the API's default (to today)
  var agentNames = {};       // agent_id -> name, from every answer seen (the agent filter)
  var channelsSeen = { web: true, telegram: true };
  var requestNo = 0;

  function $(id) { return document.getElementById(id); }
  function el(tag, attrs, text) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (name) {
      var value = attrs[name];
      if (value === null || value === undefined || value === false) return;
      if (name === "className") node.className = value; else node.setAttribute(name, String(value));
    });
    if (text !== undefined && text !== null) node.textContent = String(text);
    return node;
  }
  function clear(node) { while (node.firstChild) node.removeChild(node.firstChild); }
  function isNum(v) { return typeof v === "number" && isFinite(v); }

  // -- es-ES figures --
  var INT = new Intl.NumberFormat("es-ES", { maximumFractionDigits: 0 });
  var DEC = new Intl.NumberFormat("es-ES", { minimumFractionDigits: 1, maximumFractionDigits: 1 });
  var PCT = new Intl.NumberFormat("es-ES", { style: "percent", maximumFractionDigits: 1 });
  function count(v) { return isNum(v) ? INT.format(v) : "—"; }
  // "1 pendiente", "2 pendientes" (a missing figure reads "— pendientes")
  function counted(v, one, many) { return count(v) + " " + (v === 1 ? one : many); }
  function percent(v) { return isNum(v) ? PCT.format(v) : "—"; }
  function decimal(v) { return isNum(v) ? DEC.format(v) : "—"; }
  function signed(v) { return isNum(v) ? (v > 0 ? "+" : "") + INT.format(v) : "—"; }
  // "45 s", "3 min 20 s", "13 h 40 min", "2 d 5 h"
  function duration(v) {
    if (!isNum(v)) return "—";
    var s = Math.round(Math.max(0, v));
    if (s < 60) return s + " s";
    if (s < 3600) return Math.floor(s / 60) + " min" + (s % 60 ? " " + (s % 60) + " s" : "");
    if (s < 86400) {
      var m = Math.round((s % 3600) / 60), h = Math.floor(s / 3600);
      if (m === 60) { h += 1; m = 0; }
      return h + " h" + (m ? " " + m + " min" : "");
    }
    var hours = Math.round((s % 86400) / 3600), d = Math.floor(s / 86400);
    if (hours === 24) { d += 1; hours = 0; }
    return d + " d" + (hours ? " " + hours + " h" : "");
  }
  var DURATION_STEPS = [10, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400, 172800, 432000];
  function durationTicks(max) {
    if (!(max > 0)) return [0, 60];
    var step = DURATION_STEPS.filter(function (s) { return s * 4 >= max; })[0] || Math.ceil(max / 4 / 86400) * 86400;
    var ticks = [];
    for (var t = 0; t < max + step; t += step) { ticks.push(t); if (t >= max) break; }
    return ticks;
  }
  function dayLabel(iso) { var p = String(iso).split("-"); return p[2] + "/" + p[1]; }
  function dayText(iso) {
    var p = String(iso).split("-").map(Number);
    var d = new Date(Date.UTC(p[0], p[1] - 1, p[2]));
    return isNaN(d.getTime()) ? String(iso)
      : d.toLocaleDateString("es-ES", { weekday: "short", day: "numeric", month: "short", year: "numeric", timeZone: "UTC" });
  }

  // -- the view --
  function showView(name) {
    var reports = name === "reports";
    $("app").hidden = reports;
    $("reports").hidden = !reports;
    $("view-chats").setAttribute("aria-pressed", reports ? "false" : "true");
    $("view-reports").setAttribute("aria-pressed", reports ? "true" : "false");
    if (reports) {
      $("reports-title").focus();
      // read again each time the view is shown: what happened meanwhile (today's
      // replies and ratings) is in it, and the default range still ends today
      load(rangeChosen);
    }
  }

  function query(withRange) {
    var params = new URLSearchParams();
    if (withRange) {
      if ($("rep-from").value) params.set("from", $("rep-from").value);
      if ($("rep-to").value) params.set("to", $("rep-to").value);
    }
    if ($("rep-channel").value) params.set("channel", $("rep-channel").value);
    if ($("rep-agent").value) params.set("agent", $("rep-agent").value);
    var q = params.toString();
    return q ? "?" + q : "";
  }

  function authFetch(path) {
    return fetch(path, { headers: { Authorization: "Bearer " + opts.token() }, cache: "no-store",
                         credentials: "omit", referrerPolicy: "no-referrer" });
  }

  function refusal(response) {
    return response.json().catch(function () { return {}; }).then(function (body) {
      if (response.status === 401) { opts.onUnauthorized(); return "Tu sesión ya no es válida."; }
      if (response.status === 403) return "Solo las personas supervisoras pueden ver los informes.";
      if (response.status === 429 || response.status === 503) return "El servidor está ocupado; inténtalo de nuevo en unos segundos.";
      return (body && body.detail) || "No se pudo cargar el informe (error " + response.status + ").";
    });
  }

  function setStatus(text, isError) {
    $("rep-status").textContent = isError ? "" : text;
    $("rep-error").textContent = isError ? text : "";
  }

  function load(withRange) {
    var mine = ++requestNo;
    setStatus("Cargando el informe…", false);
    $("reports-body").setAttribute("aria-busy", "true");
    return authFetch("/api/reports/summary" + query(withRange)).then(function (response) {
      if (!response.ok) return refusal(response).then(function (text) { throw new Error(text); });
      return response.json();
    }).then(function (data) {
      if (mine !== requestNo) return;
      render(data);
      setStatus("Informe del " + dayText(data.range.from) + " al " + dayText(data.range.to) + " (" + data.range.tz + ").", false);
    }).catch(function (error) {
      if (mine !== requestNo) return;
      setStatus(error && error.message && !/fetch/i.test(error.message) ? error.message
        : "No se pudo conectar con el servidor para cargar el informe.", true);
    }).then(function () { if (mine === requestNo) $("reports-body").removeAttribute("aria-busy"); });
  }

  function download() {
    var button = $("rep-csv");
    button.disabled = true;
    setStatus("Preparando el CSV…", false);
    authFetch("/api/reports/conversations.csv" + query(true)).then(function (response) {
      if (!response.ok) return refusal(response).then(function (text) { throw new Error(text); });
      return response.blob();
    }).then(function (blob) {
      var url = URL.createObjectURL(blob);
      var link = el("a", { href: url, download: "conversaciones_" + ($("rep-from").value || "inicio") + "_" +
                                                  ($("rep-to").value || "hoy") + ".csv" });
      link.hidden = true;
      document.body.appendChild(link);
      link.click();
      document.body.removeChild(link);
      setTimeout(function () { URL.revokeObjectURL(url); }, 10000);
      setStatus("CSV descargado.", false);
    }).catch(function (error) {
      setStatus(error && error.message && !/fetch/i.test(error.message) ? error.message
        : "No se pudo descargar el CSV.", true);
    }).then(function () { button.disabled = false; });
  }

  function fillSelect(select, options, keep) {
    var current = select.value;
    clear(select);
    select.appendChild(el("option", { value: "" }, keep));
    options.forEach(function (o) { select.appendChild(el("option", { value: o[0] }, o[1])); });
    select.value = current;
    if (select.value !== current) select.value = "";
  }

  function render(data) {
    $("rep-from").value = data.range.from;
    $("rep-to").value = data.range.to;
    (data.by_agent || []).forEach(function (row) { agentNames[row.agent_id] = row.agent_name || row.agent_id; });
    (data.by_channel || []).forEach(function (row) { channelsSeen[row.channel] = true; });
    fillSelect($("rep-agent"), Object.keys(agentNames).sort(function (a, b) {
      return agentNames[a].localeCompare(agentNames[b], "es");
    }).map(function (id) { return [id, agentNames[id]]; }), "Todos los agentes");
    fillSelect($("rep-channel"), Object.keys(channelsSeen).sort().map(function (c) {
      return [c, CHANNELS[c] || c];
    }), "Todos los canales");
    renderFigures(data);
    renderCharts(data);
    renderTables(data);
  }

  function figure(key, label, value, hint) {
    var box = el("div", { className: "kpi", "data-key": key });
    box.appendChild(el("dt", {}, label));
    box.appendChild(el("dd", { className: "kpi-value" }, value));
    if (hint) box.appendChild(el("dd", { className: "kpi-hint" }, hint));
    return box;
  }

  function renderFigures(d) {
    var list = $("rep-figures");
    clear(list);
    var fr = d.first_response_s || {}, frb = d.first_response_business_s || {}, res = d.resolution_s || {};
    var csat = d.csat || {}, nps = d.nps || {}, sla = d.sla || {};
    [
      figure("conversations", "Conversaciones", count(d.conversations),
             count(d.bot_only) + " solo con el asistente · " + count(d.handed_off) + " con personas"),
      figure("containment", "Contención", percent(d.containment_rate), "resueltas sin pasar a una persona"),
      figure("handoffs", "Traspasos", count(d.handoffs), "episodios en cola en el periodo"),
      figure("first_response", "Primera respuesta (mediana)", duration(fr.median),
             "en horario de atención: " + duration(frb.median)),
      figure("resolution", "Resolución (mediana)", duration(res.median), "p90: " + duration(res.p90)),
      figure("csat", "CSAT", percent(csat.score),
             "media " + decimal(csat.average) + " de 5 · " + count(csat.responses) + " de " + count(csat.requests) + (csat.responses === 1 ? " respondió" : " respondieron")),
      figure("nps", "NPS", signed(nps.score), counted(nps.responses, "respuesta", "respuestas")),
      figure("sla", "SLA", percent(sla.met_rate),
             count(sla.met) + " a tiempo · " + count(sla.breached) + " tarde · " + counted(sla.pending, "pendiente", "pendientes")),
      figure("fcr", "FCR", percent(d.fcr_rate), "sin volver en " + counted(d.fcr_counted, "contacto contado", "contactos contados")),
    ].forEach(function (node) { list.appendChild(node); });
  }

  function renderCharts(d) {
    var days = d.by_day || [];
    var dates = days.map(function (r) { return r.date; });
    function col(key) { return days.map(function (r) { return r[key]; }); }
    var common = { categories: dates, categoryLabel: dayLabel, categoryText: dayText };
    window.AuroraCharts.render($("chart-volume"), Object.assign({
      title: "Conversaciones y contención por día",
      series: [
        { name: "Conversaciones", values: col("conversations"), kind: "bar", integer: true, format: count },
        { name: "Contención", values: days.map(function (r) { return r.conversations ? r.containment_rate : null; }),
          kind: "line", axis: "right", max: 1, format: percent },
      ],
    }, common));
    window.AuroraCharts.render($("chart-first-response"), Object.assign({
      title: "Primera respuesta (mediana) por día",
      series: [{ name: "Primera respuesta (mediana)", values: col("first_response_median_s"), kind: "bar",
                 ticks: durationTicks, format: duration }],
    }, common));
    window.AuroraCharts.render($("chart-csat"), Object.assign({
      title: "CSAT por día (valoraciones de 4 o 5)",
      series: [{ name: "CSAT", values: col("csat_score"), kind: "line", max: 1, format: percent, colour: "#6d4bb5" }],
    }, common));
  }

  var ROW_COLUMNS = [
    ["Conversaciones", function (r) { return count(r.conversations); }],
    ["Traspasos", function (r) { return count(r.handoffs); }],
    ["Primera respuesta (mediana)", function (r) { return duration((r.first_response_s || {}).median); }],
    ["Resolución (mediana)", function (r) { return duration((r.resolution_s || {}).median); }],
    ["CSAT", function (r) { return percent((r.csat || {}).score); }],
    ["SLA", function (r) { return percent((r.sla || {}).met_rate); }],
    ["FCR", function (r) { return percent(r.fcr_rate); }],
  ];

  function table(container, caption, head, rows, columns, empty) {
    clear(container);
    var t = el("table", { className: "rep-table" });
    t.appendChild(el("caption", {}, caption));
    var tr = el("tr");
    tr.appendChild(el("th", { scope: "col" }, head[0]));
    columns.forEach(function (c) { tr.appendChild(el("th", { scope: "col" }, c[0])); });
    var thead = el("thead"); thead.appendChild(tr); t.appendChild(thead);
    var body = el("tbody");
    rows.forEach(function (r) {
      var row = el("tr");
      row.appendChild(el("th", { scope: "row" }, head[1](r)));
      columns.forEach(function (c) { row.appendChild(el("td", {}, c[1](r))); });
      body.appendChild(row);
    });
    if (!rows.length) {
      var none = el("tr"); var cell = el("td", { colspan: columns.length + 1, className: "empty" }, empty);
      none.appendChild(cell); body.appendChild(none);
    }
    t.appendChild(body);
    container.appendChild(t);
  }

  function renderTables(d) {
    table($("tbl-agent"), "Por agente", ["Agente", function (r) { return r.agent_name || r.agent_id; }],
          d.by_agent || [], ROW_COLUMNS, "Ningún agente atendió conversaciones en este periodo.");
    table($("tbl-channel"), "Por canal", ["Canal", function (r) { return CHANNELS[r.channel] || r.channel; }],
          d.by_channel || [], [ROW_COLUMNS[0], ["Contención", function (r) { return percent(r.containment_rate); }]]
            .concat(ROW_COLUMNS.slice(1)), "No hubo conversaciones en este periodo.");
    table($("tbl-reason"), "Por motivo del traspaso", ["Motivo", function (r) { return r.reason_text || "Otro motivo"; }],
          d.by_reason || [], ROW_COLUMNS, "No hubo traspasos en este periodo.");
    table($("tbl-product"), "Productos más consultados", ["Producto", function (r) { return r.product; }],
          d.top_products || [], [
            ["Contactos", function (r) { return count(r.contacts); }],
            ["Devoluciones", function (r) { return count(r.returns); }],
            ["Quejas", function (r) { return count(r.complaints); }],
          ], "Ningún contacto habló de un pedido en este periodo.");
  }

  // -- wiring --
  function start(options) {
    opts = options;
    $("view-chats").addEventListener("click", function () { showView("chats"); });
    $("view-reports").addEventListener("click", function () { showView("reports"); });
    $("reports-form").addEventListener("submit", function (event) {
      event.preventDefault(); rangeChosen = true; load(true);
    });
    $("rep-csv").addEventListener("click", download);
  }

  function signedIn(agent) {
    var was = role;
    role = agent && agent.role === "supervisor" ? "supervisor" : "agent";
    $("views").hidden = role !== "supervisor";
    if (role !== "supervisor") { $("reports").hidden = true; return; }
    if (was === "supervisor" && $("view-reports").getAttribute("aria-pressed") === "true") {
      $("app").hidden = true; $("reports").hidden = false;  // a reconnection keeps the view
    }
  }

  function signedOut() {
    role = null; rangeChosen = false; agentNames = {}; requestNo += 1;
    $("views").hidden = true; $("reports").hidden = true;
    $("view-chats").setAttribute("aria-pressed", "true"); $("view-reports").setAttribute("aria-pressed", "false");
    ["rep-figures", "chart-volume", "chart-first-response", "chart-csat",
     "tbl-agent", "tbl-channel", "tbl-reason", "tbl-product"].forEach(function (id) { clear($(id)); });
    $("rep-from").value = ""; $("rep-to").value = ""; $("rep-channel").value = ""; $("rep-agent").value = "";
    setStatus("", false);
  }

  window.AuroraReports = { start: start, signedIn: signedIn, signedOut: signedOut,
                           format: { count: count, percent: percent, duration: duration, decimal: decimal } };
})();
