/*
 * Small charts for the console's reports view (no library, no build step):
 * bars and lines over one category axis (days), drawn as inline SVG at the
 * container's width and redrawn when it changes.
 *
 *   AuroraCharts.render(container, {
 *     title: "Conversaciones y contención por día",
 *     categories: ["2025-11-24", ...],          // x axis
 *     categoryLabel: function (c) { return "24/11"; },
 *     series: [{ name: "Conversaciones", values: [3, 0, null, ...], kind: "bar",
 *                axis: "left", format: function (v) { ... } },
 *              { name: "Contención", values: [...], kind: "line", axis: "right", max: 1, format: ... }],
 *   });
 *
 * Accessible: the SVG is role="img" with a <title> and an aria-label that
 * sums it up; a visually hidden table (in a block of class "sr") next to it holds every
 * value, so screen readers get the figures, not the drawing. null values are
 * drawn as nothing (a gap in the line) and written as "—" in the table.
 * Every text is set with textContent.
 */
(function () {
  "use strict";

  var NS = "http://www.w3.org/2000/svg";
  var COLOURS = ["#0f5c63", "#c2570c", "#6d4bb5"];
  var HEIGHT = 240;
  var PAD = { top: 16, bottom: 34, left: 64, right: 64 };
  var MIN_BAR = 4;   // px: the least height of a bar with a value above 0 (1 px read as no bar)

  function svg(tag, attrs, text) {
    var node = document.createElementNS(NS, tag);
    Object.keys(attrs || {}).forEach(function (name) { node.setAttribute(name, String(attrs[name])); });
    if (text !== undefined) node.textContent = String(text);
    return node;
  }
  function html(tag, attrs, text) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (name) {
      if (name === "className") node.className = attrs[name]; else node.setAttribute(name, String(attrs[name]));
    });
    if (text !== undefined) node.textContent = String(text);
    return node;
  }
  function isNum(v) { return typeof v === "number" && isFinite(v); }

  // Ticks at 1, 2 or 5 × 10^n (or the series' own ``ticks`` function): at
  // most ``count`` intervals up to a top at or above ``max``.
  function niceTicks(max, count) {
    if (!(max > 0)) return [0, 1];
    var raw = max / count;
    var power = Math.pow(10, Math.floor(Math.log(raw) / Math.LN10));
    var step = [1, 2, 2.5, 5, 10].map(function (m) { return m * power; }).filter(function (s) { return s >= raw; })[0];
    var ticks = [];
    for (var t = 0; t < max + step / 2; t += step) ticks.push(Math.round(t * 1e6) / 1e6);
    if (ticks[ticks.length - 1] < max) ticks.push(ticks[ticks.length - 1] + step);
    return ticks;
  }

  function axisTicks(series, fallbackMax) {
    var values = [];
    series.forEach(function (s) { s.values.forEach(function (v) { if (isNum(v)) values.push(v); }); });
    var first = series[0] || {};
    if (first.ticks) return first.ticks(values.length ? Math.max.apply(null, values) : 0);
    if (isNum(first.max)) return niceTicks(first.max, 4);
    var max = values.length ? Math.max.apply(null, values) : 0;
    var ticks = niceTicks(max || fallbackMax || 1, 4);
    if (first.integer) ticks = ticks.filter(function (t) { return t === Math.round(t); });
    return ticks;
  }

  function draw(container, spec) {
    var width = Math.max(280, Math.floor(container.clientWidth || 600));
    var categories = spec.categories || [];
    var label = spec.categoryLabel || String;
    var series = spec.series || [];
    var left = series.filter(function (s) { return s.axis !== "right"; });
    var right = series.filter(function (s) { return s.axis === "right"; });
    var pad = { top: PAD.top, bottom: PAD.bottom, left: PAD.left, right: right.length ? PAD.right : 16 };
    var plotW = width - pad.left - pad.right, plotH = HEIGHT - pad.top - pad.bottom;
    var n = Math.max(1, categories.length), slot = plotW / n;
    var leftTicks = axisTicks(left), rightTicks = right.length ? axisTicks(right) : null;
    var leftTop = leftTicks[leftTicks.length - 1] || 1, rightTop = rightTicks ? rightTicks[rightTicks.length - 1] || 1 : 1;
    function y(v, top) { return pad.top + plotH - (v / top) * plotH; }
    function x(i) { return pad.left + slot * i + slot / 2; }

    var root = svg("svg", { width: width, height: HEIGHT, viewBox: "0 0 " + width + " " + HEIGHT,
                            role: "img", "aria-label": spec.title + ". " + summary(spec), focusable: "false" });
    root.appendChild(svg("title", {}, spec.title));
    var grid = svg("g", { "class": "chart-grid", "aria-hidden": "true" });
    leftTicks.forEach(function (t) {
      var ty = y(t, leftTop);
      grid.appendChild(svg("line", { x1: pad.left, x2: width - pad.right, y1: ty, y2: ty, stroke: t === 0 ? "#8a96a0" : "#e2e6ea" }));
      grid.appendChild(svg("text", { x: pad.left - 6, y: ty + 4, "text-anchor": "end" }, (left[0].format || String)(t)));
    });
    (rightTicks || []).forEach(function (t) {
      grid.appendChild(svg("text", { x: width - pad.right + 6, y: y(t, rightTop) + 4, "text-anchor": "start" },
                           (right[0].format || String)(t)));
    });
    // category labels: as many as fit (about 44 px each), always the first and the last
    // (the last one replaces the one before it when the two would touch)
    var every = Math.max(1, Math.ceil(44 / slot));
    var shown = [];
    for (var i = 0; i < n; i += every) shown.push(i);
    if (n && shown[shown.length - 1] !== n - 1) {
      if (shown.length > 1 && (n - 1 - shown[shown.length - 1]) * slot < 44) shown.pop();
      shown.push(n - 1);
    }
    shown.forEach(function (i) {
      grid.appendChild(svg("text", { x: x(i), y: HEIGHT - pad.bottom + 16, "text-anchor": "middle" }, label(categories[i])));
    });
    root.appendChild(grid);

    var bars = series.filter(function (s) { return s.kind !== "line"; });
    var barW = Math.max(2, Math.min(36, slot * 0.7) / Math.max(1, bars.length));
    series.forEach(function (s, k) {
      var colour = s.colour || COLOURS[k % COLOURS.length];
      var top = s.axis === "right" ? rightTop : leftTop;
      var group = svg("g", { "class": "chart-series", "aria-hidden": "true", fill: colour, stroke: colour });
      if (s.kind === "line") {
        var path = "", open = false;
        s.values.forEach(function (v, i) {
          if (!isNum(v)) { open = false; return; }
          path += (open ? " L" : " M") + x(i).toFixed(1) + " " + y(v, top).toFixed(1);
          open = true;
          group.appendChild(svg("circle", { cx: x(i), cy: y(v, top), r: 3.5, stroke: "#fff", "stroke-width": 1.5 }));
        });
        if (path) group.insertBefore(svg("path", { d: path.trim(), fill: "none", "stroke-width": 2.5,
                                                    "stroke-linejoin": "round" }), group.firstChild);
      } else {
        var b = bars.indexOf(s);
        s.values.forEach(function (v, i) {
          if (!isNum(v) || v <= 0) return;
          var bx = x(i) - (barW * bars.length) / 2 + barW * b;
          var h = Math.max(MIN_BAR, (v / top) * plotH);   // a small value next to big ones is still seen
          group.appendChild(svg("rect", { x: bx.toFixed(1), y: (pad.top + plotH - h).toFixed(1), width: barW.toFixed(1),
                                          height: h.toFixed(1), rx: 2, stroke: "none" }));
        });
      }
      root.appendChild(group);
    });
    return root;
  }

  function summary(spec) {
    return (spec.series || []).map(function (s) {
      var values = s.values.filter(isNum);
      if (!values.length) return s.name + ": sin datos";
      return s.name + ": de " + (s.format || String)(Math.min.apply(null, values)) + " a " +
        (s.format || String)(Math.max.apply(null, values));
    }).join("; ") + " (" + (spec.categories || []).length + " días; la tabla siguiente da cada valor)";
  }

  function table(spec) {
    // hidden in a block of its own: a table ignores the 1 px width and the
    // overflow of ".sr", and stuck out of the page at phone widths
    var box = html("div", { className: "sr" });
    var t = html("table");
    box.appendChild(t);
    t.appendChild(html("caption", {}, spec.title));
    var head = html("tr");
    head.appendChild(html("th", { scope: "col" }, spec.categoryHeader || "Día"));
    spec.series.forEach(function (s) { head.appendChild(html("th", { scope: "col" }, s.name)); });
    var thead = html("thead"); thead.appendChild(head); t.appendChild(thead);
    var body = html("tbody");
    (spec.categories || []).forEach(function (c, i) {
      var row = html("tr");
      row.appendChild(html("th", { scope: "row" }, (spec.categoryText || spec.categoryLabel || String)(c)));
      spec.series.forEach(function (s) {
        var v = s.values[i];
        row.appendChild(html("td", {}, isNum(v) ? (s.format || String)(v) : "—"));
      });
      body.appendChild(row);
    });
    t.appendChild(body);
    return box;
  }

  function legend(spec) {
    var list = html("ul", { className: "chart-legend", "aria-hidden": "true" });
    spec.series.forEach(function (s, k) {
      var item = html("li");
      var key = html("span", { className: "chart-key chart-key-" + (s.kind === "line" ? "line" : "bar") });
      key.style.background = s.colour || COLOURS[k % COLOURS.length];
      item.appendChild(key);
      item.appendChild(document.createTextNode(s.name + (s.axis === "right" ? " (eje derecho)" : "")));
      list.appendChild(item);
    });
    return list;
  }

  var observed = typeof WeakMap === "function" ? new WeakMap() : null;

  function render(container, spec) {
    while (container.firstChild) container.removeChild(container.firstChild);
    var plot = html("div", { className: "chart-plot" });
    container.appendChild(plot);
    plot.appendChild(draw(plot, spec));
    if (spec.series.length > 1) container.appendChild(legend(spec));
    container.appendChild(table(spec));
    if (!observed || typeof ResizeObserver !== "function") return;
    var previous = observed.get(container);
    if (previous) previous.disconnect();
    var lastWidth = plot.clientWidth, frame = null;
    var observer = new ResizeObserver(function () {
      if (frame || plot.clientWidth === lastWidth) return;
      frame = window.requestAnimationFrame(function () {
        frame = null;
        lastWidth = plot.clientWidth;
        plot.replaceChild(draw(plot, spec), plot.firstChild);
      });
    });
    observer.observe(plot);
    observed.set(container, observer);
  }

  window.AuroraCharts = { render: render, niceTicks: niceTicks };
})();
