// The AstroLab dashboard: polls the JSON endpoints of the server inside the host process and
// draws them. No network beyond that server: uPlot is served from the same place.
'use strict';
(function () {
  const token = new URLSearchParams(location.search).get('token') || '';
  const $ = (id) => document.getElementById(id);
  const POLL_MS = 500, SLOW_MS = 2000, KEEP = 2400;

  function fmtBytes(v) {
    if (v === null || v === undefined || isNaN(v)) return '-';
    const u = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
    let i = 0, x = Math.abs(v);
    while (x >= 1024 && i < u.length - 1) { x /= 1024; i++; }
    return (v < 0 ? '-' : '') + (i === 0 ? x.toFixed(0) : x.toFixed(2)) + ' ' + u[i];
  }
  const fmtCount = (v) => (v === undefined ? '-' : Number(v).toLocaleString('en-US'));
  function text(el, s) { el.textContent = s; }

  // Every endpoint, reads included, needs the token (unless the program opened reads).
  const auth = token ? { Authorization: 'Bearer ' + token } : {};
  async function getJSON(path) {
    const r = await fetch(path, { cache: 'no-store', headers: auth });
    if (!r.ok) throw new Error(path + ': HTTP ' + r.status);
    return r.json();
  }

  // ---- Timeline chart: current, peak, RSS, CUDA allocated and reserved (MiB). ----
  const series = { t: [], current: [], peak: [], rss: [], cuda: [], cudaRes: [] };
  let lastSeq = 0, plot = null;
  function makePlot() {
    const el = $('chart');
    const opts = {
      width: Math.max(300, el.clientWidth - 10), height: 260,
      scales: { x: { time: true } },
      axes: [{ stroke: '#8a93a8', grid: { stroke: '#26304a' } },
             { stroke: '#8a93a8', grid: { stroke: '#26304a' }, size: 84,
               values: (u, vals) => vals.map((v) => fmtBytes(v)) }],
      series: [{},
        { label: 'current', stroke: '#5aa9ff', width: 2, value: (u, v) => fmtBytes(v) },
        { label: 'peak', stroke: '#f5b942', dash: [6, 4], value: (u, v) => fmtBytes(v) },
        { label: 'RSS', stroke: '#7bd88f', value: (u, v) => fmtBytes(v) },
        { label: 'CUDA allocated', stroke: '#ff6b6b', value: (u, v) => fmtBytes(v) },
        { label: 'CUDA reserved', stroke: '#c28cff', dash: [3, 3], value: (u, v) => fmtBytes(v) }],
    };
    plot = new uPlot(opts, [[], [], [], [], [], []], el);
    window.addEventListener('resize', () => plot.setSize({ width: Math.max(300, el.clientWidth - 10), height: 260 }));
  }
  async function pollTimeline() {
    const t = await getJSON('/api/timeline?since=' + lastSeq);
    for (const s of t.samples) {
      series.t.push(s.t_ms / 1000); series.current.push(s.current_bytes);
      series.peak.push(s.peak_bytes); series.rss.push(s.rss_bytes);
      series.cuda.push(s.cuda_allocated_bytes); series.cudaRes.push(s.cuda_reserved_bytes);
      lastSeq = s.seq;
    }
    for (const k in series) if (series[k].length > KEEP) series[k].splice(0, series[k].length - KEEP);
    text($('timeline-info'), series.t.length + ' samples, every ' + t.interval_ms + ' ms');
    if (typeof uPlot !== 'undefined') {
      if (!plot) makePlot();
      plot.setData([series.t, series.current, series.peak, series.rss, series.cuda, series.cudaRes]);
    }
  }

  async function pollStats() {
    const s = await getJSON('/api/stats');
    text($('current'), fmtBytes(s.current_bytes)); text($('peak'), fmtBytes(s.peak_bytes));
    text($('live_blocks'), fmtCount(s.live_blocks));
    text($('rss'), fmtBytes(s.rss_bytes) + ' (peak ' + fmtBytes(s.peak_rss_bytes) + ')');
    text($('cuda_alloc'), fmtBytes(s.cuda_allocated_bytes));
    text($('cuda_res'), fmtBytes(s.cuda_reserved_bytes));
    text($('allocs'), fmtCount(s.total_allocations)); text($('errors'), fmtCount(s.errors));
    $('current').dataset.bytes = s.current_bytes;
  }

  function cell(tr, v, cls) { const td = document.createElement('td'); td.textContent = v; if (cls) td.className = cls; tr.appendChild(td); }
  async function pollMemory() {
    const m = await getJSON('/api/memory');
    const body = $('consumers-body');
    body.replaceChildren();
    for (const c of m.top_consumers) {
      const tr = document.createElement('tr');
      cell(tr, fmtBytes(c.bytes), 'num'); cell(tr, fmtCount(c.count), 'num'); cell(tr, c.tag);
      cell(tr, (c.function || '?') + ' (' + (c.file || '?') + ':' + c.line + ')');
      body.appendChild(tr);
    }
    if (!m.top_consumers.length) { const tr = document.createElement('tr'); cell(tr, 'nothing live'); body.appendChild(tr); }
    const recs = $('recs');
    recs.replaceChildren();
    for (const r of m.recommendations) {
      const li = document.createElement('li'); li.className = r.severity;
      li.textContent = '[' + r.severity + '] ' + r.code + ': ' + r.message; recs.appendChild(li);
    }
    if (!m.recommendations.length) { const li = document.createElement('li'); li.textContent = 'none: nothing to act on'; recs.appendChild(li); }
    const reg = $('registry-body');
    reg.replaceChildren();
    const head = document.createElement('p');
    head.textContent = fmtCount(m.registry.registrations) + ' registered for cleanup';
    reg.appendChild(head);
    if (m.registry.objects && m.registry.objects.length) {
      const table = document.createElement('table'), tb = document.createElement('tbody');
      for (const r of m.registry.objects) {
        const tr = document.createElement('tr');
        cell(tr, r.type); cell(tr, r.address); cell(tr, fmtBytes(r.bytes), 'num');
        cell(tr, 'priority ' + r.priority + (r.running ? ', releasing' : ''));
        tb.appendChild(tr);
      }
      table.appendChild(tb); reg.appendChild(table);
    }
    const sel = $('log-name');
    if (!sel.options.length) for (const name of Object.keys(m.log_levels)) sel.add(new Option(name + ' (' + m.log_levels[name] + ')', name));
    else for (const o of sel.options) o.text = o.value + ' (' + m.log_levels[o.value] + ')';
  }

  function kv(body, k, v) { const tr = document.createElement('tr'); const th = document.createElement('th'); th.textContent = k; tr.appendChild(th); cell(tr, v); body.appendChild(tr); }
  async function pollSystem() {
    const s = await getJSON('/api/system');
    text($('host'), s.host);
    const b = $('system-body'); b.replaceChildren();
    kv(b, 'host', s.host); kv(b, 'os', s.os + (s.distribution ? ' (' + s.distribution + ')' : ''));
    kv(b, 'CPUs', s.cpus + (s.cpus_usable !== s.cpus ? ' (' + s.cpus_usable + ' usable)' : ''));
    kv(b, 'RAM', fmtBytes(s.ram_available_bytes) + ' available of ' + fmtBytes(s.ram_total_bytes));
    kv(b, 'process RSS', fmtBytes(s.rss_bytes) + ' (peak ' + fmtBytes(s.peak_rss_bytes) + ')');
    kv(b, 'backing allocator', s.backing_allocator);
    kv(b, 'versions', Object.entries(s.versions).map(([k, v]) => k + ' ' + v).join(', '));
    if (!s.cuda.available) kv(b, 'CUDA', 'not available' + (s.cuda.reason ? ' (' + s.cuda.reason + ')' : ''));
    for (const d of s.cuda.devices) kv(b, 'CUDA ' + d.index, d.name + ': ' + fmtBytes(d.used_bytes) + ' used of ' + fmtBytes(d.total_bytes) + ' (' + d.backend + ')');
    $('btn-empty-cache').disabled = !token || !s.cuda.available;
  }

  async function action(path) {
    const out = $('action-result');
    out.textContent = 'POST ' + path + ' ...';
    try {
      const r = await fetch(path, { method: 'POST', headers: auth });
      const body = await r.json();
      out.dataset.status = r.status;
      out.textContent = 'POST ' + path + ' -> ' + r.status + '\n' + JSON.stringify(body, null, 2);
    } catch (e) { out.textContent = 'POST ' + path + ' failed: ' + e.message; }
    refresh(true);
  }

  let busy = false, tick = 0;
  async function refresh(all) {
    if (busy) return;
    busy = true;
    try {
      await Promise.all([pollStats(), pollTimeline()]);
      if (all || tick % (SLOW_MS / POLL_MS) === 0) await Promise.all([pollMemory(), pollSystem()]);
      $('conn').className = 'badge ok'; text($('conn'), 'live');
    } catch (e) {
      $('conn').className = 'badge bad'; text($('conn'), 'disconnected');
    } finally { busy = false; tick++; }
  }

  for (const b of document.querySelectorAll('button[data-path]')) {
    b.disabled = !token;
    b.addEventListener('click', () => action(b.dataset.path));
  }
  $('btn-log').disabled = !token;
  $('btn-log').addEventListener('click', () => action('/api/log_level?name=' +
    encodeURIComponent($('log-name').value) + '&level=' + encodeURIComponent($('log-level').value)));
  $('token-note').hidden = !!token;
  refresh(true);
  setInterval(refresh, POLL_MS);
})();
