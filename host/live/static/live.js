// The live page: one card per wearable (team page, "/") or one wearable large ("/w/<code>").
//
// Data: host.live.server's WebSocket "/ws" sends a "snapshot" (everything the Hub keeps), then
// "update" messages (what changed) and "keepalive"s; the JSON is host.live.view's (module
// docstring there). Charts are uPlot 1.6.32 (vendor/uplot-1.6.32/, README there); no chart
// drawing of our own. Plain script, no build step.
//
// For tests and benchmarks:
//   window.liveStats  = {samples, latencies_s, wearables, lastLevel, messages, connects}
//       samples: samples handled (snapshot and updates); latencies_s: for each sample of an
//       "update" with a sent_unix_s, Date.now()/1000 - sent_unix_s when the message was
//       handled (the newest LATENCY_KEEP); lastLevel: {code: the level word shown}.
//   window.liveCharts = {code: uPlot instance}
//   DOM: data-wearable="<code>" on each card, data-field="level|probabilities|flags|borg|..."
//   inside it, data-field="connection" on the reconnect banner, data-axes="auto|fixed".
"use strict";

(function () {
  // ---- constants ----------------------------------------------------------------------------
  /** Fixed left axis, µM: a complete arterial occlusion of real thigh muscle gives about
   *  −38/+37 µM (issue 19's published figures), so ±50 holds any real change with room. */
  const FIXED_UM = [-50, 50];
  /** Fixed right axis, % (SmO2's whole range). */
  const FIXED_PCT = [0, 100];
  /** A sample this far behind the newest means the wearable restarted, s (host.live.view's
   *  CLOCK_RESTART_S); a sample less far behind is a late one and is left out. */
  const CLOCK_RESTART_S = 5;
  /** A wearable whose last record is older than this is shown as "no data for N s", s
   *  (assumption: ten samples a second and a level a second, so 3 s is 30 missed samples). */
  const STALE_S = 3;
  /** How often the "no data" notes are refreshed, ms. */
  const STALE_CHECK_MS = 500;
  /** Latencies kept in window.liveStats.latencies_s (the newest). */
  const LATENCY_KEEP = 100000;
  /** Reconnect delays, ms: first try, doubling up to the longest (assumption). */
  const RETRY_FIRST_MS = 500;
  const RETRY_MAX_MS = 5000;
  /** Seconds of signal charted until the server says (host.live.view.WINDOW_S). */
  const DEFAULT_WINDOW_S = 60;
  /** Borg ratings listed on a card: the newest and this many before it. */
  const BORG_EARLIER = 3;
  /** Chart heights, px: a card on the team page; one wearable (share of the window, least). */
  const CARD_CHART_PX = 170;
  const BIG_CHART_SHARE = 0.55;
  const BIG_CHART_MIN_PX = 320;
  /** The charted columns of a message's "samples" (host.live.view.SIGNALS), in chart order. */
  const SIGNALS = ["d_hbo2_um", "d_hhb_um", "d_thb_um", "smo2_pct"];
  /** Trace colours: the NIRS convention (HbO2 red, HHb blue), tHb green, SmO2 purple. */
  const TRACES = [
    { label: "ΔHbO2", scale: "um", unit: "µM", stroke: "#d62728" },
    { label: "ΔHHb", scale: "um", unit: "µM", stroke: "#1f5fbf" },
    { label: "ΔtHb", scale: "um", unit: "µM", stroke: "#2a9d3a" },
    { label: "SmO2", scale: "pct", unit: "%", stroke: "#7b3fa0", dash: [6, 4] },
  ];
  /** Level colours, lowest level first: green → red (lvl-0 … lvl-4 in live.css). */
  const LEVEL_CLASSES = 5;

  // ---- where we are -------------------------------------------------------------------------
  const match = location.pathname.match(/^\/w\/([^/]+)\/?$/);
  const single = match ? decodeURIComponent(match[1]) : null;
  const token = new URLSearchParams(location.search).get("token");

  /** ``url`` with this page's ?token= (if it had one), so links and the WebSocket carry it. */
  function withToken(url) {
    if (!token) return url;
    return url + (url.includes("?") ? "&" : "?") + "token=" + encodeURIComponent(token);
  }

  function wsUrl() {
    const scheme = location.protocol === "https:" ? "wss:" : "ws:";
    return withToken(scheme + "//" + location.host + "/ws");
  }

  // ---- state --------------------------------------------------------------------------------
  const wearables = new Map(); // code -> {code, state, data, els, chart, dirty}
  let windowS = DEFAULT_WINDOW_S;
  let axesMode = "auto";
  const stats = {
    samples: 0,
    latencies_s: [],
    wearables: 0,
    lastLevel: {},
    messages: 0,
    connects: 0,
  };
  window.liveStats = stats;
  window.liveCharts = {};

  const $ = (sel, root) => (root || document).querySelector(sel);
  const grid = $('[data-field="grid"]');

  /** A new element: ``el("div", {class: "x", "data-field": "y"}, child, "text", ...)``. */
  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v !== null && v !== undefined) node.setAttribute(k, v);
    }
    for (const c of children) node.append(c);
    return node;
  }

  /** ``node[prop] = value`` unless it already is: an unchanged text or class rewritten ten
   *  times a second on every card still makes the browser restyle and lay the page out again
   *  (benchmarks/live_load.py --page measured it with 20 wearables). */
  function put(node, prop, value) {
    if (node[prop] !== value) node[prop] = value;
  }

  function fmtNum(v, digits) {
    return v === null || v === undefined || !isFinite(v) ? "—" : Number(v).toFixed(digits);
  }

  function fmtSeconds(t) {
    return t === null || t === undefined ? "—" : Math.round(t) + " s";
  }

  // ---- charts (uPlot) -----------------------------------------------------------------------
  /** The x axis: always ``windowS`` wide; the newest samples at the right once the chart
   *  is full, filling from the left before. */
  function xRange(u, min, max) {
    if (max === null || max === undefined) return [0, windowS];
    return max - min < windowS ? [min, min + windowS] : [max - windowS, max];
  }

  function autoRange(min, max, fallback) {
    if (min === null || min === undefined || !isFinite(min)) return fallback;
    return uPlot.rangeNum(min, max, 0.1, true);
  }

  function umRange(u, min, max) {
    return axesMode === "fixed" ? FIXED_UM.slice() : autoRange(min, max, FIXED_UM.slice());
  }

  function pctRange(u, min, max) {
    return axesMode === "fixed" ? FIXED_PCT.slice() : autoRange(min, max, FIXED_PCT.slice());
  }

  function chartOptions(width, height, big) {
    const series = [{ label: "t", value: (u, v) => (v === null ? "--" : v.toFixed(1) + " s") }];
    for (const tr of TRACES) {
      series.push({
        label: tr.label,
        scale: tr.scale,
        stroke: tr.stroke,
        width: big ? 2 : 1.5,
        dash: tr.dash,
        points: { show: false },
        value: (u, v) => (v === null || v === undefined ? "--" : v.toFixed(1) + " " + tr.unit),
      });
    }
    const font = big ? "13px system-ui, sans-serif" : "11px system-ui, sans-serif";
    return {
      width,
      height,
      legend: { show: true, live: big, markers: { fill: (u, i) => TRACES[i - 1].stroke } },
      cursor: { drag: { setScale: false, x: false, y: false }, points: { show: big } },
      scales: {
        x: { time: false, range: xRange },
        um: { range: umRange },
        pct: { range: pctRange },
      },
      series,
      axes: [
        { label: big ? "wearable's clock, s" : null, font, labelFont: font, size: big ? 44 : 30 },
        { scale: "um", label: "µM", font, labelFont: font, size: big ? 56 : 44,
          labelSize: big ? 20 : 16 },
        { scale: "pct", side: 1, label: "SmO2 %", font, labelFont: font, size: big ? 50 : 40,
          labelSize: big ? 20 : 16, grid: { show: false } },
      ],
    };
  }

  function chartHeight() {
    return single ? Math.max(BIG_CHART_MIN_PX, Math.round(window.innerHeight * BIG_CHART_SHARE))
                  : CARD_CHART_PX;
  }

  function makeChart(w) {
    const box = w.els.chart;
    const width = Math.max(box.clientWidth, 200);
    w.chart = new uPlot(chartOptions(width, chartHeight(), Boolean(single)), w.data, box);
    window.liveCharts[w.code] = w.chart;
    new ResizeObserver(() => {
      const wNow = Math.max(box.clientWidth, 200);
      if (w.chart && (wNow !== w.chart.width || chartHeight() !== w.chart.height)) {
        w.chart.setSize({ width: wNow, height: chartHeight() });
      }
    }).observe(box);
  }

  let drawPending = false;
  function scheduleDraw() {
    if (drawPending) return;
    drawPending = true;
    requestAnimationFrame(() => {
      drawPending = false;
      for (const w of wearables.values()) {
        if (w.dirty && w.chart) {
          w.chart.setData(w.data);
          w.dirty = false;
        }
      }
    });
  }

  function setAxes(mode) {
    axesMode = mode;
    for (const b of document.querySelectorAll("[data-axes]")) {
      b.setAttribute("aria-pressed", String(b.dataset.axes === mode));
    }
    for (const w of wearables.values()) if (w.chart) w.chart.setData(w.data);
  }

  // ---- cards --------------------------------------------------------------------------------
  function row(name, field) {
    const dd = el("dd", { "data-field": field });
    const dt = el("dt", null, name);
    return [dt, dd];
  }

  function makeCard(code) {
    const href = withToken("/w/" + encodeURIComponent(code));
    const els = {};
    els.code = el("a", { class: "code", href, "data-field": "code" }, code);
    els.source = el("span", { class: "source", "data-field": "source" });
    els.simulated = el("span", { class: "badge sim", "data-field": "simulated", hidden: "" },
                       "SIMULATED");
    els.t = el("span", { class: "clock", "data-field": "t" });
    els.stale = el("div", { class: "stale", "data-field": "stale", hidden: "" });
    els.level = el("div", { class: "level lvl-wait", "data-field": "level" }, "waiting");
    els.smo2 = el("div", { class: "smo2", "data-field": "smo2" });
    els.probabilities = el("div", { class: "probs", "data-field": "probabilities" });
    els.chart = el("div", { class: "chart", "data-field": "chart" });
    const facts = el("dl", { class: "facts" });
    const rows = {};
    for (const [name, field] of [
      ["signal", "flags"],
      ["Borg", "borg"],
      ["phase", "phase"],
      ["recording", "recording"],
      ["link", "link"],
      ["broker", "delivery"],
      ["note", "notes"],
    ]) {
      const [dt, dd] = row(name, field);
      els[field] = dd;
      rows[field] = dt;
      facts.append(dt, dd);
    }
    els.rows = rows;
    const card = el(
      "article",
      { class: single ? "card big" : "card", "data-wearable": code, tabindex: single ? null : "0" },
      el("header", { class: "card-head" }, els.code, els.source, els.simulated, els.t),
      els.stale,
      el("div", { class: "levelrow" },
         el("div", { class: "levelbox" }, els.level, els.smo2), els.probabilities),
      els.chart,
      facts,
    );
    if (!single) {
      const open = () => { location.href = href; };
      card.addEventListener("click", (e) => {
        // The legend toggles traces and the code is a link: neither opens the page here.
        if (e.target.closest(".u-legend, a, button")) return;
        open();
      });
      card.addEventListener("keydown", (e) => { if (e.key === "Enter") open(); });
    }
    els.card = card;
    return els;
  }

  function ensure(code) {
    let w = wearables.get(code);
    if (w) return w;
    w = { code, state: null, data: [[], [], [], [], []], els: makeCard(code), chart: null,
          dirty: true };
    wearables.set(code, w);
    grid.append(w.els.card);
    makeChart(w);
    return w;
  }

  function remove(code) {
    const w = wearables.get(code);
    if (!w) return;
    if (w.chart) w.chart.destroy();
    w.els.card.remove();
    wearables.delete(code);
    delete window.liveCharts[code];
    delete stats.lastLevel[code];
  }

  function levelOf(s) {
    const levels = s.levels || [];
    if (s.level !== null && s.level !== undefined) {
      const n = Math.max(levels.length, 2);
      const k = Math.round((s.level * (LEVEL_CLASSES - 1)) / (n - 1));
      return { word: levels[s.level] || s.level_name || String(s.level), cls: "lvl-" + k };
    }
    if (s.check_sensor) return { word: "check sensor", cls: "lvl-check" };
    return { word: "waiting", cls: "lvl-wait" };
  }

  function setRow(w, field, text, cls) {
    const dd = w.els[field];
    const show = text !== null && text !== undefined && text !== "";
    put(dd, "hidden", !show);
    put(w.els.rows[field], "hidden", !show);
    put(dd, "textContent", show ? String(text) : "");
    put(dd, "className", cls || "");
  }

  function renderProbabilities(w, s) {
    const box = w.els.probabilities;
    const levels = s.levels || [];
    const probs = s.probabilities || [];
    // Rebuilt only when they changed (a level a second; the state comes ten times).
    const key = JSON.stringify([levels, probs, s.raw_level]);
    if (key === w.probabilitiesShown) return;
    w.probabilitiesShown = key;
    box.replaceChildren();
    levels.forEach((name, i) => {
      const p = probs[i];
      const pct = p === null || p === undefined ? null : Math.max(0, Math.min(1, p)) * 100;
      const k = Math.round((i * (LEVEL_CLASSES - 1)) / Math.max(levels.length - 1, 1));
      const fill = el("div", { class: "fill lvl-bg-" + k });
      fill.style.width = (pct === null ? 0 : pct).toFixed(1) + "%";
      box.append(el(
        "div",
        { class: i === s.raw_level ? "prob best" : "prob", "data-level": name },
        el("span", { class: "name" }, name),
        el("div", { class: "bar" }, fill),
        el("span", { class: "pct" }, pct === null ? "—" : Math.round(pct) + " %"),
      ));
    });
  }

  function renderState(w) {
    const s = w.state;
    const e = w.els;
    put(e.source, "textContent", s.source || "");
    put(e.simulated, "hidden", s.provenance !== "simulated");
    put(e.t, "textContent",
        s.t_s === null || s.t_s === undefined ? "" : "t " + fmtNum(s.t_s, 1) + " s");
    const lv = levelOf(s);
    put(e.level, "textContent", String(lv.word));
    put(e.level, "className", "level " + lv.cls);
    stats.lastLevel[w.code] = lv.word;
    put(e.smo2, "textContent", s.smo2_pct === null || s.smo2_pct === undefined
      ? "" : "SmO2 est. " + fmtNum(s.smo2_pct, 0) + " %");
    renderProbabilities(w, s);

    const flags = s.flags || [];
    if (flags.length) setRow(w, "flags", "check sensor: " + flags.join(", "), "warn");
    else if (s.check_sensor) setRow(w, "flags", "check sensor", "warn");
    else setRow(w, "flags", s.t_s === null ? "" : "ok", "ok");

    const borg = s.borg || [];
    if (borg.length) {
      const [t, r] = borg[borg.length - 1];
      let text = "Borg " + r + " at " + fmtSeconds(t);
      const earlier = borg.slice(-1 - BORG_EARLIER, -1).reverse();
      if (earlier.length) {
        text += " · before: " + earlier.map(([t0, r0]) => r0 + " at " + fmtSeconds(t0)).join(", ");
      }
      setRow(w, "borg", text);
    } else setRow(w, "borg", "none entered yet", "muted");

    let phase = s.phase || "";
    if (s.task_failure_t_s !== null && s.task_failure_t_s !== undefined) {
      phase += (phase ? " · " : "") + "task failure at " + fmtSeconds(s.task_failure_t_s);
    }
    setRow(w, "phase", phase);

    const rec = s.recording;
    if (rec) {
      let text = rec.state || "";
      if (rec.file) text += " → " + rec.file;
      if (rec.detail) text += " (" + rec.detail + ")";
      const cls = { recording: "rec", replay: "", ended: "muted" }[rec.state];
      setRow(w, "recording", text, cls === undefined ? "warn" : cls);
    } else setRow(w, "recording", "");

    const link = s.link;
    if (link) {
      const bad = (link.lost_frames || 0) + (link.crc_errors || 0) > 0;
      setRow(w, "link", (link.frames ?? "—") + " frames, " + (link.lost_frames ?? "—") +
             " lost, " + (link.crc_errors ?? "—") + " CRC errors", bad ? "warn" : "");
    } else setRow(w, "link", "");

    const d = s.delivery;
    if (d) {
      // Duplicates were dropped (nothing shown twice): worth a count, not an alarm.
      setRow(w, "delivery", d.received + " received, " + d.lost + " lost, " + d.duplicates +
             " duplicates dropped", d.lost > 0 ? "warn" : "");
    } else setRow(w, "delivery", "");

    const notes = s.notes || [];
    if (notes.length) {
      const [t, text] = notes[notes.length - 1];
      setRow(w, "notes", text + " at " + fmtSeconds(t), "muted");
    } else setRow(w, "notes", "");
    renderStale(w, Date.now() / 1000);
  }

  function renderStale(w, now) {
    const s = w.state;
    const t = s ? s.updated_unix_s : null;
    const age = t === null || t === undefined ? null : now - t;
    const ended = Boolean(s && s.recording && s.recording.state === "ended");
    const stale = !ended && age !== null && age > STALE_S;
    put(w.els.stale, "hidden", !stale && !ended);
    const note = ended ? "session ended" : stale ? "no data for " + Math.floor(age) + " s" : "";
    put(w.els.stale, "textContent", note);
    w.els.card.classList.toggle("is-stale", stale || ended);
  }

  function renderHeader() {
    const n = wearables.size;
    stats.wearables = n;
    const sims = [...wearables.values()].filter((w) => w.state && w.state.provenance === "simulated");
    put($('[data-field="count"]'), "textContent", single
      ? (n ? "" : "waiting for " + single + "…")
      : n + (n === 1 ? " wearable" : " wearables"));
    const note = $('[data-field="simnote"]');
    put(note, "hidden", sims.length === 0);
    put(note, "textContent", sims.length
      ? "SIMULATED: " + (single ? "this wearable's data is simulated"
                                : sims.length + " of " + n + " show simulated data")
      : "");
    put($('[data-field="empty"]'), "hidden", n > 0 || Boolean(single));
    put(document, "title", single ? "NIRS live · " + single : "NIRS live (" + n + ")");
  }

  // ---- messages -----------------------------------------------------------------------------
  function appendSamples(w, cols, live) {
    const t = cols.t_s || [];
    const n = t.length;
    stats.samples += n;
    if (live && cols.sent_unix_s) {
      const now = Date.now() / 1000;
      const lat = stats.latencies_s;
      for (const sent of cols.sent_unix_s) if (sent !== null) lat.push(now - sent);
      if (lat.length > LATENCY_KEEP) lat.splice(0, lat.length - LATENCY_KEEP);
    }
    const d = w.data;
    const src = SIGNALS.map((k) => cols[k] || []);
    for (let i = 0; i < n; i++) {
      const last = d[0].length ? d[0][d[0].length - 1] : -Infinity;
      if (t[i] < last - CLOCK_RESTART_S) {
        for (const a of d) a.length = 0; // the wearable restarted: its clock began again
      } else if (t[i] <= last) {
        continue; // a late sample (a resend overtaken): the chart keeps its time order
      }
      d[0].push(t[i]);
      for (let k = 0; k < SIGNALS.length; k++) {
        const v = src[k][i];
        d[k + 1].push(v === undefined ? null : v);
      }
    }
    // Keep the newest window only: the page's memory stays bounded.
    const x = d[0];
    if (x.length) {
      const oldest = x[x.length - 1] - windowS;
      let cut = 0;
      while (cut < x.length && x[cut] < oldest) cut++;
      if (cut) for (const a of d) a.splice(0, cut);
    }
    w.dirty = true;
  }

  function handle(msg) {
    stats.messages += 1;
    if (msg.type === "keepalive") return;
    if (typeof msg.window_s === "number" && msg.window_s > 0) windowS = msg.window_s;
    const snapshot = msg.type === "snapshot";
    const seen = new Set();
    for (const item of msg.wearables || []) {
      if (single && item.id !== single) continue;
      seen.add(item.id);
      const w = ensure(item.id);
      if (snapshot) {
        for (const a of w.data) a.length = 0;
        grid.append(w.els.card); // the snapshot's order: first seen first
      }
      if (item.samples) appendSamples(w, item.samples, !snapshot);
      if (item.state) {
        w.state = item.state;
        renderState(w);
      }
    }
    if (snapshot) for (const code of [...wearables.keys()]) if (!seen.has(code)) remove(code);
    if (Array.isArray(msg.status)) {  // the server's sources: e.g. its broker is away
      const b = $('[data-field="status"]');
      b.hidden = msg.status.length === 0;
      b.textContent = msg.status.join(" · ");
    }
    renderHeader();
    scheduleDraw();
  }

  // ---- connection ---------------------------------------------------------------------------
  let retryMs = RETRY_FIRST_MS;

  function banner(text) {
    const b = $('[data-field="connection"]');
    b.hidden = !text;
    b.textContent = text || "";
  }

  function connect() {
    let ws;
    try {
      ws = new WebSocket(wsUrl());
    } catch (err) {
      banner("disconnected, retrying… (" + err + ")");
      setTimeout(connect, retryMs);
      return;
    }
    ws.onopen = () => {
      retryMs = RETRY_FIRST_MS;
      stats.connects += 1;
      banner(null);
    };
    ws.onmessage = (ev) => handle(JSON.parse(ev.data));
    ws.onclose = (ev) => {
      const why = ev.code === 1008
        ? " (the server wants the page's token: open the address its command printed)"
        : "";
      banner("disconnected, retrying in " + (retryMs / 1000).toFixed(1) + " s…" + why);
      setTimeout(connect, retryMs);
      retryMs = Math.min(retryMs * 2, RETRY_MAX_MS);
    };
  }

  // ---- start --------------------------------------------------------------------------------
  for (const b of document.querySelectorAll("[data-axes]")) {
    b.addEventListener("click", () => setAxes(b.dataset.axes));
  }
  $('[data-field="home"]').setAttribute("href", withToken("/"));
  $('[data-field="back"]').setAttribute("href", withToken("/"));
  if (single) {
    document.body.classList.add("single");
    $('[data-field="back"]').hidden = false;
    $('[data-field="title-code"]').textContent = " · " + single;
  }
  setInterval(() => {
    const now = Date.now() / 1000;
    for (const w of wearables.values()) renderStale(w, now);
  }, STALE_CHECK_MS);
  renderHeader();
  $('[data-field="count"]').textContent = "connecting…";
  connect();
})();
