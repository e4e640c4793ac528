// tierroute usage dashboard: one fetch of /admin/usage/dashboard, then Chart.js charts.
// The master key comes from the URL fragment (#key=..., never sent to the server) or the form.
"use strict";
(function () {
  const prefix = document.body.dataset.prefix;
  const charts = {};
  const palette = ["#3366cc", "#dc3912", "#ff9900", "#109618", "#990099", "#0099c6", "#dd4477",
    "#66aa00", "#b82e2e", "#316395", "#994499", "#22aa99"];
  const $ = (id) => document.getElementById(id);
  const usd = (v, digits = 4) => "$" + Number(v).toFixed(v >= 100 ? 0 : digits);
  const pct = (v) => (100 * v).toFixed(1) + "%";

  function keyFromFragment() {
    const m = /(?:^|[#&])key=([^&]+)/.exec(location.hash);
    return m ? decodeURIComponent(m[1]) : null;
  }

  function status(text, cls) { $("status").textContent = text; document.body.dataset.state = cls; }

  function draw(id, config) {
    if (charts[id]) charts[id].destroy();
    config.options = Object.assign({ animation: false, responsive: true, maintainAspectRatio: false }, config.options || {});
    charts[id] = new Chart($(id), config);
  }

  function stackedSeries(rows, field, buckets) {
    const names = [...new Set(rows.map((r) => r[field]))].sort();
    return names.map((name, i) => ({
      label: name,
      backgroundColor: palette[i % palette.length],
      data: buckets.map((b) => rows.filter((r) => r[field] === name && r.bucket === b)
        .reduce((s, r) => s + r.cost_usd, 0)),
    }));
  }

  function label(ts, bucket) {
    const d = new Date(ts * 1000).toISOString();
    return bucket === "day" ? d.slice(0, 10) : d.slice(5, 13).replace("T", " ") + "h";
  }

  function render(d) {
    const buckets = [...new Set(d.over_time.map((r) => r.bucket))].sort((a, b) => a - b);
    const labels = buckets.map((b) => label(b, d.bucket));
    const stacked = { scales: { x: { stacked: true }, y: { stacked: true, beginAtZero: true } } };
    draw("c-provider", { type: "bar", data: { labels, datasets: stackedSeries(d.spend_by_provider, "provider", buckets) }, options: stacked });
    draw("c-model", { type: "bar", data: { labels, datasets: stackedSeries(d.spend_by_model, "model", buckets) }, options: stacked });
    draw("c-savings", { type: "line", data: { labels, datasets: [
      { label: "premium-only baseline", data: d.over_time.map((r) => r.baseline_cost_usd), borderColor: "#dc3912", backgroundColor: "#dc391233", fill: true },
      { label: "tierroute actual", data: d.over_time.map((r) => r.cost_usd), borderColor: "#109618", backgroundColor: "#10961833", fill: true },
    ] }, options: { scales: { y: { beginAtZero: true } } } });
    const outcomes = Object.keys(d.cache.by_outcome).sort();
    draw("c-cache", { type: "doughnut", data: { labels: outcomes, datasets: [{
      data: outcomes.map((k) => d.cache.by_outcome[k]), backgroundColor: outcomes.map((_, i) => palette[i % palette.length]) }] } });
    const lat = d.latency.slice().sort((a, b) => a.model.localeCompare(b.model));
    draw("c-latency", { type: "bar", data: { labels: lat.map((r) => r.model), datasets: [
      { label: "p50", data: lat.map((r) => r.p50_ms), backgroundColor: "#3366cc" },
      { label: "p95", data: lat.map((r) => r.p95_ms), backgroundColor: "#ff9900" },
    ] }, options: { scales: { y: { beginAtZero: true } } } });
    const fb = d.by_model.slice().sort((a, b) => a.model.localeCompare(b.model));
    draw("c-fallback", { type: "bar", data: { labels: fb.map((r) => r.model), datasets: [
      { label: "requests that fell back (%)", data: fb.map((r) => r.requests ? 100 * r.fallback_requests / r.requests : 0), backgroundColor: "#990099" },
    ] }, options: { scales: { y: { beginAtZero: true } } } });

    const tbody = $("tasks").querySelector("tbody");
    tbody.replaceChildren();
    for (const r of d.task_savings) {
      const tr = document.createElement("tr");
      if (r.task.startsWith("TOTAL")) tr.className = "total";
      for (const v of [r.task, r.requests, r.tokens.toLocaleString("en-US"), usd(r.baseline_per_1k, 5), usd(r.cost_per_1k, 5), r.saving_pct.toFixed(1) + "%"]) {
        const td = document.createElement("td"); td.textContent = String(v); tr.appendChild(td);
      }
      tbody.appendChild(tr);
    }

    const totals = d.by_model.reduce((t, r) => ({ cost: t.cost + r.cost_usd, base: t.base + r.baseline_cost_usd,
      req: t.req + r.requests, fb: t.fb + r.fallback_requests, routing: t.routing + (r.routing_saved_usd || 0),
      vendor: t.vendor + (r.provider_cache_saved_usd || 0), resp: t.resp + (r.response_cache_saved_usd || 0) }),
      { cost: 0, base: 0, req: 0, fb: 0, routing: 0, vendor: 0, resp: 0 });
    $("t-split").textContent = "routing " + usd(totals.routing) + " · vendor cache " + usd(totals.vendor) +
      " · response cache " + usd(totals.resp);
    $("t-cost").textContent = usd(totals.cost);
    $("t-base").textContent = usd(totals.base);
    $("t-saved").textContent = usd(totals.base - totals.cost) + (totals.base > 0 ? " (" + pct(1 - totals.cost / totals.base) + ")" : "");
    $("t-req").textContent = totals.req.toLocaleString("en-US");
    $("t-cache").textContent = pct(d.cache.hit_rate);
    $("t-fb").textContent = totals.req ? pct(totals.fb / totals.req) : "–";

    if (d.headroom && Object.keys(d.headroom).length) {
      $("headroom-box").hidden = false;
      const deps = Object.keys(d.headroom).sort();
      const pctLeft = (h) => (h.remaining_pct === null ? 100 : h.remaining_pct);
      $("headroom-wrap").style.height = (26 * deps.length + 70) + "px";  // one readable bar per deployment
      draw("c-headroom", { type: "bar", data: { labels: deps.map((k) => k + " (" + d.headroom[k].binding + ")"), datasets: [
        { label: "quota remaining, tightest limit (%)", data: deps.map((k) => pctLeft(d.headroom[k])), backgroundColor: "#0099c6" },
      ] }, options: { indexAxis: "y", scales: { x: { min: 0, max: 100 }, y: { ticks: { autoSkip: false } } } } });
    } else {
      $("headroom-box").hidden = true;
    }
    markDrawn();
  }

  // Tell tests (and curious humans) that every chart painted pixels.
  function markDrawn() {
    let painted = 0;
    for (const id of Object.keys(charts)) {
      const c = $(id); if (!c || c.offsetParent === null) continue;
      const px = c.getContext("2d").getImageData(0, 0, c.width, c.height).data;
      let n = 0; for (let i = 3; i < px.length; i += 4) if (px[i] !== 0) n++;
      if (n > 100) painted++;
    }
    document.body.dataset.charts = String(Object.keys(charts).length);
    document.body.dataset.painted = String(painted);
    document.body.dataset.rendered = "1";
  }

  async function load() {
    const key = $("key").value || keyFromFragment() || sessionStorage.getItem("tierroute-key") || "";
    if (key) sessionStorage.setItem("tierroute-key", key);
    status("loading…", "loading");
    const q = new URLSearchParams({ since: $("since").value, bucket: $("bucket").value });
    let res;
    // location.origin, not a relative URL: a page opened as http://user:key@host/ui has a base URL with
    // credentials in it, which fetch() refuses; the browser still sends the Basic login it cached.
    try {
      res = await fetch(location.origin + prefix + "/data?" + q, { headers: key ? { Authorization: "Bearer " + key } : {}, credentials: "same-origin" });
    } catch (e) { status("cannot reach the gateway: " + e, "error"); return; }
    if (res.status === 401 || res.status === 403) { status("enter the master key", "auth"); return; }
    if (!res.ok) {
      let msg = res.statusText; try { msg = (await res.json()).error.message; } catch (_) { /* not JSON */ }
      status("error: " + msg, "error"); return;
    }
    const d = await res.json();
    render(d);
    status("updated " + new Date().toLocaleTimeString() + " · " + d.over_time.reduce((s, r) => s + r.requests, 0) + " requests", "ok");
  }

  $("controls").addEventListener("submit", (e) => { e.preventDefault(); load(); });
  load();
})();
