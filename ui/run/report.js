// The page of `astrolab run --html FILE` (tools/run_html.c writes it, docs/RUN-REPORT.md): the
// run's JSON report, embedded as a JSON script element with the id astrolab-report, drawn
// as flame graphs (d3-flame-graph), a timeline (uPlot) and tables. Offline: every library is
// inlined, and the page's Content-Security-Policy forbids any request. Every name from the report
// (function names can hold anything) goes into the page as text, never as markup.
(function () {
  'use strict';
  const read = (id) => JSON.parse(document.getElementById(id).textContent);
  const report = read('astrolab-report');
  const command = read('astrolab-command');
  const $ = (id) => document.getElementById(id);

  function el(tag, cls, text) {
    const e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined) e.textContent = String(text);
    return e;
  }

  function fmtBytes(n) {
    n = Number(n) || 0;
    const units = ['bytes', 'KiB', 'MiB', 'GiB', 'TiB'];
    let i = 0;
    while (Math.abs(n) >= 1024 && i < units.length - 1) { n /= 1024; i++; }
    return i === 0 ? `${n} bytes` : `${Number(n.toFixed(n < 10 ? 2 : 1))} ${units[i]}`;
  }
  const fmtCount = (n) => (Number(n) || 0).toLocaleString('en-US');
  function fmtNs(ns) {
    ns = Number(ns) || 0;
    if (ns < 1e3) return `${ns} ns`;
    if (ns < 1e6) return `${(ns / 1e3).toFixed(1)} us`;
    if (ns < 1e9) return `${(ns / 1e6).toFixed(1)} ms`;
    return `${(ns / 1e9).toFixed(2)} s`;
  }
  const basename = (p) => String(p).slice(String(p).lastIndexOf('/') + 1);

  // A frame as --folded names it: "function (file:line)", or "function (object)".
  function frameName(f) {
    const fn = f.function || '?';
    if (f.file) return `${fn} (${basename(f.file)}:${f.line})`;
    return `${fn} (${f.object || '?'})`;
  }
  // A site's frames, innermost first: its stack, or its one frame.
  function siteFrames(s) {
    if (Array.isArray(s.stack) && s.stack.length) return s.stack;
    return [{ function: s.function, file: s.file, line: s.line, object: s.object }];
  }

  // -------- Header and figures --------
  const argv = Array.isArray(command) ? command : [];
  $('program').textContent = argv.join(' ');
  document.title = `astrolab run: ${argv.join(' ')}`;
  const stats = report.stats || {};
  const leaks = Array.isArray(report.leaks) ? report.leaks : [];
  const leakBytes = leaks.reduce((a, l) => a + (Number(l.bytes) || 0), 0);
  $('summary').textContent = leaks.length
    ? `${fmtBytes(leakBytes)} live at exit in ${leaks.length} site${leaks.length === 1 ? '' : 's'}`
    : 'no leaks';
  const peak = report.peak || {};
  const figures = [
    ['peak', fmtBytes(stats.peak_bytes), 'fig-peak'],
    ['peak at', peak.time_ns !== undefined ? fmtNs(peak.time_ns) : '-', 'fig-peak-time'],
    ['live at exit', fmtBytes(stats.current_bytes), 'fig-current'],
    ['live blocks at exit', fmtCount(stats.live_blocks), 'fig-blocks'],
    ['allocations', fmtCount(stats.total_allocations), 'fig-allocs'],
    ['frees', fmtCount(stats.total_frees), 'fig-frees'],
    ['peak RSS', fmtBytes(stats.peak_rss_bytes), 'fig-rss'],
    ['errors caught', fmtCount(stats.errors), 'fig-errors'],
  ];
  for (const [label, value, id] of figures) {
    const d = el('div');
    d.append(el('span', 'label', label));
    const v = el('span', 'value', value);
    v.id = id;
    d.append(v);
    $('figures-body').append(d);
  }

  // -------- Flame graphs --------
  // The tree of `entries` weighted by weight(entry): each node's value is its whole subtree's
  // (d3-flame-graph's default), the root ("all") at the bottom, outermost frames above it.
  function buildTree(entries, weight) {
    const root = { name: 'all', value: 0, children: [], index: new Map() };
    for (const s of entries) {
      const w = Number(weight(s)) || 0;
      if (w <= 0) continue;
      root.value += w;
      let node = root;
      const frames = siteFrames(s);
      for (let i = frames.length - 1; i >= 0; i--) {
        const name = frameName(frames[i]);
        let child = node.index.get(name);
        if (!child) {
          child = { name, value: 0, children: [], index: new Map() };
          node.index.set(name, child);
          node.children.push(child);
        }
        child.value += w;
        node = child;
      }
    }
    const strip = (n) => { delete n.index; n.children.forEach(strip); return n; };
    return strip(root);
  }

  // `whole`: the figure the entries are a part of (the report lists the largest sites only).
  function drawFlame(id, entries, weight, unit, whole) {
    const box = $(id);
    const tree = buildTree(entries, weight);
    const fmt = unit === 'bytes' ? fmtBytes : (n) => `${fmtCount(n)} allocations`;
    const part = Number(whole) > tree.value
      ? ` of ${fmt(whole)} (the report's ${entries.length} largest sites)` : '';
    $(`${id}-info`).textContent = tree.value ? fmt(tree.value) + part : '';
    box.dataset.total = String(tree.value);
    if (!tree.value) {
      box.append(el('p', 'empty', 'Nothing to draw.'));
      return;
    }
    const chart = flamegraph.default()
      .width(Math.max(400, box.clientWidth || 1000))
      .cellHeight(18)
      .transitionDuration(200)
      .minFrameSize(1)
      .sort(true)
      .setDetailsElement($(`${id}-details`))
      .label((d) => `${d.data.name}: ${fmt(d.value)} (${(100 * d.value / tree.value).toFixed(1)}%)`);
    d3.select(box).datum(tree).call(chart);
  }

  const peakSites = Array.isArray(peak.sites) ? peak.sites : [];
  const hot = Array.isArray(report.hot_sites) ? report.hot_sites : [];
  drawFlame('flame-peak', peakSites, (s) => s.bytes, 'bytes', peak.sites_bytes);
  drawFlame('flame-leaks', leaks, (s) => s.bytes, 'bytes');
  drawFlame('flame-allocs', hot, (s) => s.count, 'allocations');

  // -------- Timeline --------
  const rows = Array.isArray(report.timeline) ? report.timeline : [];
  $('timeline-info').textContent = `${rows.length} samples`;
  if (rows.length) {
    const ms = rows[rows.length - 1][0] < 2e9; // a short run reads better in milliseconds
    const t = rows.map((r) => r[0] / (ms ? 1e6 : 1e9));
    const cur = rows.map((r) => r[1]);
    const rss = rows.map((r) => r[2]);
    const box = $('timeline-chart');
    const axisBytes = (u, vals) => vals.map((v) => fmtBytes(v));
    new uPlot({
      width: Math.max(400, box.clientWidth || 1000),
      height: 260,
      scales: { x: { time: false } },
      axes: [{ label: ms ? 'milliseconds since start' : 'seconds since start' }, { values: axisBytes, size: 80 }],
      series: [
        { label: ms ? 'time (ms)' : 'time (s)' },
        { label: 'tracked bytes', stroke: '#2463c9', width: 2, value: (u, v) => fmtBytes(v) },
        { label: 'RSS', stroke: '#c96a24', width: 1.5, value: (u, v) => fmtBytes(v) },
      ],
    }, [t, cur, rss], box);
  } else {
    $('timeline-chart').append(el('p', 'empty', 'No timeline in this report.'));
  }

  // -------- Tables --------
  // The site's name, then the wrappers it went through (the frames inside it) and its callers.
  function siteCell(s) {
    const td = el('td', 'site');
    const name = frameName(s);
    td.append(el('span', 'name', name));
    const frames = siteFrames(s);
    const at = frames.findIndex((f) => frameName(f) === name);
    frames.forEach((f, i) => {
      if (i !== at) td.append(el('span', 'stack', `${at > i ? 'via' : 'called from'} ${frameName(f)}`));
    });
    return td;
  }
  function table(id, entries, cols) {
    const t = $(id);
    if (!entries.length) {
      t.replaceWith(el('p', 'empty', 'None.'));
      return;
    }
    const head = el('tr');
    for (const c of cols) head.append(el('th', c.num ? 'num' : '', c.title));
    const thead = el('thead');
    thead.append(head);
    const body = el('tbody');
    for (const s of entries) {
      const tr = el('tr');
      for (const c of cols) tr.append(c.cell ? c.cell(s) : el('td', c.num ? 'num' : '', c.get(s)));
      body.append(tr);
    }
    t.append(thead, body);
  }
  const site = { title: 'site', cell: siteCell };
  table('table-leaks', leaks, [
    { title: 'bytes', num: true, get: (s) => fmtBytes(s.bytes) },
    { title: 'blocks', num: true, get: (s) => fmtCount(s.count) },
    { title: 'lost', num: true, get: (s) => (s.lost_count === undefined ? '-' : fmtCount(s.lost_count)) },
    { title: 'origin', get: (s) => s.origin || '-' },
    { title: 'suppressed', get: (s) => s.suppressed || '' },
    site,
  ]);
  table('table-peak', peakSites, [
    { title: 'bytes', num: true, get: (s) => fmtBytes(s.bytes) },
    { title: 'blocks', num: true, get: (s) => fmtCount(s.count) },
    site,
  ]);
  table('table-temporaries', Array.isArray(report.temporaries) ? report.temporaries : [], [
    { title: 'temporary blocks', num: true, get: (s) => fmtCount(s.count) },
    { title: 'allocations', num: true, get: (s) => fmtCount(s.allocations) },
    site,
  ]);
  table('table-hot', hot, [
    { title: 'allocations', num: true, get: (s) => fmtCount(s.count) },
    { title: 'temporaries', num: true, get: (s) => fmtCount(s.temporaries) },
    site,
  ]);
  // Each process's own report stays in the embedded JSON; the table sums it up.
  const procs = (Array.isArray(report.processes) ? report.processes : []).concat(
    (Array.isArray(report.untracked_processes) ? report.untracked_processes : [])
      .map((p) => Object.assign({ untracked: true }, p)));
  const own = (p) => (p.report && p.report.stats) || {};
  table('table-processes', procs, [
    { title: 'pid', num: true, get: (p) => p.pid },
    { title: 'exit', num: true, get: (p) => (p.untracked ? 'untracked' : p.exit_status) },
    { title: 'peak', num: true, get: (p) => (p.untracked ? '-' : fmtBytes(own(p).peak_bytes)) },
    { title: 'live at exit', num: true, get: (p) => (p.untracked ? '-' : fmtBytes(own(p).current_bytes)) },
    { title: 'command', get: (p) => (Array.isArray(p.argv) ? p.argv.join(' ') : '') },
  ]);
  document.body.dataset.ready = 'true';
})();
