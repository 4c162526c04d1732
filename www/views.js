// The results views, shared by the page (app.js) and report.html (src/report/html.rs inlines
// this file under a policy that forbids every request): render(container, results) draws
// everything results.json carries — the comparison table (sortable, with the significance
// block when present), Recall@k and nDCG@k curves, the per-query explorer, model vs model,
// failures and efficiency. Plain DOM and inline SVG, text through textContent only, no
// imports: this file must stand alone.
//
// Each view says in one line what it needs when the data lacks it (details come with
// --details ids|texts; texts are absent from a results-only share).

const SVG = 'http://www.w3.org/2000/svg';

/** Per-query values closer than this are a tie (as the significance block counts them). */
const TIE_EPS = 1e-12;

/** The table columns of src/report/markdown.rs: (metric, label, k), shown when k was asked for. */
const COLUMNS = [
  ['ndcg', 'nDCG', 10], ['mrr', 'MRR', 10], ['map', 'MAP', 100], ['recall', 'Recall', 10],
  ['recall', 'Recall', 100], ['precision', 'P', 10], ['accuracy', 'Acc', 1],
];
const LABELS = { ndcg: 'nDCG', mrr: 'MRR', map: 'MAP', recall: 'Recall', precision: 'P', accuracy: 'Acc' };

/** Series markers, so lines differ by shape as well as colour. */
const MARKERS = ['circle', 'square', 'triangle', 'diamond', 'down', 'cross'];

let uid = 0;

/**
 * Draws the views of `results` (a parsed results.json) into `container`.
 * options.level: the heading level of each view (default 2; the page nests them under its h2);
 * options.tableId: an id for the comparison table (the page's tests look it up).
 */
export function render(container, results, options = {}) {
  const ctx = context(results, options);
  container.classList.add('views');
  container.replaceChildren(
    summary(ctx),
    comparison(ctx),
    curves(ctx),
    explorer(ctx),
    versus(ctx),
    failures(ctx),
    efficiency(ctx),
  );
}

function context(r, options) {
  const ks = [...new Set(r.k ?? [])].sort((a, b) => a - b);
  const sortKey = `ndcg@${ks.includes(10) ? 10 : Math.max(...ks)}`;
  const ranked = [...r.models].sort((a, b) => (b.metrics[sortKey] ?? -Infinity) - (a.metrics[sortKey] ?? -Infinity));
  const details = r.details?.per_query ? r.details : null;
  const prefix = `ev${++uid}`;
  let n = 0;
  return {
    r, ks, sortKey, ranked, details,
    texts: details?.texts ?? null,
    level: options.level ?? 2,
    tableId: options.tableId,
    series: new Map(r.models.map((m, i) => [m.name, i])), // a model keeps its colour in every view
    id: (what) => `${prefix}-${what}-${++n}`,
    explore: null, // set by the explorer: (query id) => shows it
  };
}

// ---- summary -------------------------------------------------------------------------------

function summary(ctx) {
  const { r } = ctx;
  const d = r.dataset ?? {};
  const parts = [
    d.format && `${d.format} dataset`,
    count(d.num_evaluated_queries ?? r.models[0]?.num_queries, 'query evaluated', 'queries evaluated'),
    d.num_docs != null && count(d.num_docs, 'document', 'documents'),
    d.num_relevant_qrels != null && count(d.num_relevant_qrels, 'relevant judgment', 'relevant judgments'),
    `k = ${ctx.ks.join(', ')}`,
    r.tool,
  ].filter(Boolean);
  const box = el('div', { class: 'view-summary' }, el('p', {}, parts.join(' · ')));
  if (r.results_only) {
    box.append(el('p', { class: 'notice-line' }, 'Results-only share: ids and numbers, no query or document texts.'));
  }
  const notices = r.models.filter((m) => m.search?.notice).map((m) => `${m.name}: ${m.search.notice}`);
  const warnings = [...(r.warnings ?? []), ...notices];
  if (warnings.length) box.append(el('ul', { class: 'warnings' }, warnings.map((w) => t('li', `warning: ${w}`))));
  return box;
}

// ---- 1. the comparison table ---------------------------------------------------------------

function comparison(ctx) {
  const { r, ks, sortKey } = ctx;
  let metricCols = COLUMNS.filter(([, , k]) => ks.includes(k)).map(([m, l, k]) => [`${m}@${k}`, `${l}@${k}`]);
  if (!metricCols.some(([key]) => key.startsWith('ndcg@'))) {
    // Unusual cut-offs (no 10), as results.md: nDCG and Recall at each k first, so the column
    // the table is sorted by is in it; then the other columns whose k was asked for.
    const each = ks.flatMap((k) => [[`ndcg@${k}`, `nDCG@${k}`], [`recall@${k}`, `Recall@${k}`]]);
    metricCols = [...each, ...metricCols.filter(([key]) => !key.startsWith('recall@'))];
  }
  const sig = r.significance?.comparisons ? r.significance : null;
  const vs = new Map((sig?.comparisons ?? []).map((c) => [c.model, c]));
  const isRef = (m) => sig && m.name === sig.reference;

  // label, value (for sorting), shown text, numeric, extra class
  const cols = [
    { label: 'model', value: (m) => m.name, text: (m) => m.name },
    ...metricCols.map(([key, label]) => ({ key, label, num: true, value: (m) => m.metrics[key], text: (m) => f4(m.metrics[key]) })),
    { label: 'queries', num: true, value: (m) => m.num_queries, text: (m) => String(m.num_queries) },
  ];
  // The significance columns come before time and search, so that they show without scrolling.
  if (sig) {
    const c = (m) => vs.get(m.name);
    cols.push(
      { label: `Δ ${metricLabel(sig.metric)}`, num: true, value: (m) => (isRef(m) ? 0 : c(m)?.delta), text: (m) => (isRef(m) ? 'reference' : signed(c(m)?.delta)), sig: true },
      { label: '95% CI', num: true, value: (m) => c(m)?.ci95?.[0], text: (m) => (c(m) ? `[${signed(c(m).ci95[0])}, ${signed(c(m).ci95[1])}]` : ''), sig: true },
      { label: 'p', num: true, value: (m) => c(m)?.p_value, text: (m) => (c(m) ? pValue(c(m).p_value) : ''), sig: true, desc: false },
      { label: 'W / L / T', num: true, value: (m) => c(m) && c(m).wins - c(m).losses, text: (m) => (c(m) ? `${c(m).wins} / ${c(m).losses} / ${c(m).ties}` : ''), sig: true },
    );
  }
  cols.push(
    { label: 'time (s)', num: true, value: (m) => m.timings?.total_s, text: (m) => fixed(m.timings?.total_s, 2) },
    // One line, cut with an ellipsis (the whole text in its tooltip and the efficiency view).
    { label: 'search', value: (m) => m.search?.path ?? '', text: (m) => m.search?.path ?? '', cls: 'search-path', title: (m) => m.search?.path },
  );

  const table = el('table', { class: 'metrics comparison', id: ctx.tableId });
  table.append(el('caption', {}, 'Models compared'));
  const head = el('tr');
  const body = el('tbody');
  table.append(el('thead', {}, head), body);
  const byDefault = Math.max(0, cols.findIndex((c) => c.key === sortKey));
  let sortBy = byDefault;
  let descending = byDefault > 0;
  const note = el('p', { class: 'hint table-note' });

  const draw = () => {
    head.replaceChildren(...cols.map((c, i) => {
      const th = el('th', { scope: 'col', class: [c.num && 'num', c.sig && 'sig-col'].filter(Boolean).join(' ') || null });
      if (i === sortBy) th.setAttribute('aria-sort', descending ? 'descending' : 'ascending');
      th.append(el('button', { type: 'button', class: 'sort' }, c.label)); // style.css draws the arrow from aria-sort
      th.firstChild.addEventListener('click', () => {
        if (sortBy === i) descending = !descending;
        else {
          sortBy = i;
          descending = c.num ? c.desc !== false : false;
        }
        draw();
        head.cells[i].querySelector('button').focus();
      });
      return th;
    }));
    const col = cols[sortBy];
    const missing = (v) => v == null || (typeof v === 'number' && Number.isNaN(v));
    const order = [...ctx.ranked].sort((a, b) => {
      const [x, y] = [col.value(a), col.value(b)];
      if (missing(x) || missing(y)) return missing(x) - missing(y); // missing values last
      const c = typeof x === 'number' ? x - y : String(x).localeCompare(String(y));
      return descending ? -c : c;
    });
    body.replaceChildren(...order.map((m) => el('tr', { 'data-model': m.name }, cols.map((c, i) => {
      const cls = [c.num && 'num', c.cls, c.sig && 'sig-col',
        c.label === 'p' && vs.get(m.name)?.p_value < 0.05 && 'significant'].filter(Boolean).join(' ') || null;
      return i === 0 ? t('th', c.text(m), { scope: 'row' }) : t('td', c.text(m), { class: cls, title: c.title?.(m) });
    }))));
    note.textContent = conventionNote(ctx, col.key ?? col.label, sortBy === byDefault && descending ? null : descending);
  };
  draw();

  const parts = [heading(ctx, 'Comparison'), scroll(table, 'Models compared'), note];
  if (sig) {
    const m = sig.method ?? {};
    parts.push(t('p', `Δ, 95% CI, p and W / L / T: each model against ${sig.reference} on ${metricLabel(sig.metric)}, ` +
      'paired by query (Δ = model − reference; W / L / T = queries where the model is better / worse / tied). ' +
      `95% CI: percentile bootstrap over queries${m.bootstrap_resamples ? ` (${m.bootstrap_resamples} resamples)` : ''}; ` +
      `p: two-sided paired randomization test${m.permutations ? ` (${m.permutations} sign flips, exact up to ${m.exact_up_to_queries} queries)` : ''}; ` +
      'no correction for multiple comparisons.', { class: 'hint' }));
  }
  return section(ctx, 'comparison', parts);
}

/** The rule the numbers follow; `sorted` null: the default order (as the CLI prints it). */
function conventionNote(ctx, key, sorted) {
  const { r } = ctx;
  const rule = r.convention === 'trec' ? 'trec_eval / pytrec_eval' : 'sentence-transformers InformationRetrievalEvaluator';
  const scored = r.models.some((m) => ['emb', 'neural', 'api'].includes(m.spec?.kind)) ? `; embeddings scored by ${r.score_function}` : '';
  const by = sorted === null ? ctx.sortKey : `${key} (${sorted ? 'highest' : 'lowest'} first)`;
  return `convention: ${r.convention} (${rule})${scored}; sorted by ${by}. Every metric at every k is in results.json and results.csv. Activate a column header to sort by it.`;
}

// ---- 2. curves -----------------------------------------------------------------------------

function curves(ctx) {
  const { ks, ranked } = ctx;
  const h = heading(ctx, 'Recall@k and nDCG@k');
  if (ks.length < 2) return section(ctx, 'curves', [h, omitted('curves need two or more cut-offs k (--k 1,3,5,10,100)')]);
  const log = ks[ks.length - 1] / ks[0] > 10;
  const charts = ['recall', 'ndcg'].map((metric) => {
    const label = `${LABELS[metric]}@k`;
    const series = ranked.map((m) => ({ name: m.name, index: ctx.series.get(m.name), values: ks.map((k) => m.metrics[`${metric}@${k}`]) }));
    const chart = lineChart(ks, series, { log, label });
    const table = el('table', { class: 'metrics compact' },
      el('caption', {}, label),
      el('thead', {}, el('tr', {}, el('th', { scope: 'col' }, 'model'), ks.map((k) => el('th', { scope: 'col', class: 'num' }, `@${k}`)))),
      el('tbody', {}, series.map((s) => el('tr', {}, t('th', s.name, { scope: 'row' }), s.values.map((v) => el('td', { class: 'num' }, f4(v)))))));
    return el('figure', { class: 'chart' }, t('figcaption', label), chart, scroll(table, `${label} values`));
  });
  return section(ctx, 'curves', [h, legend(ctx, ranked), el('div', { class: 'charts' }, charts),
    el('p', { class: 'hint' }, `x: k${log ? ' (log scale)' : ''}; y: the mean over queries, 0 to 1.`)]);
}

function legend(ctx, models) {
  return el('ul', { class: 'legend', 'aria-label': 'legend' }, models.map((m) => {
    const i = ctx.series.get(m.name);
    const swatch = svg('svg', { viewBox: '0 0 28 12', width: 28, height: 12, 'aria-hidden': 'true', class: `series s${i % 8}` },
      svg('line', { x1: 1, y1: 6, x2: 27, y2: 6, class: 'line' }), marker(i, 14, 6));
    return el('li', {}, swatch, txt(m.name));
  }));
}

/** One line per series over the x values `xs`; y in [0, 1]. */
function lineChart(xs, series, { log, label }) {
  const W = 420, H = 250, L = 40, R = 14, T = 10, B = 38;
  const fx = log ? Math.log : (x) => x;
  const [x0, x1] = [fx(xs[0]), fx(xs[xs.length - 1])];
  const X = (x) => L + ((fx(x) - x0) / (x1 - x0)) * (W - L - R);
  const Y = (y) => T + (1 - y) * (H - T - B);
  const axis = svg('g', { class: 'axis' });
  for (const y of [0, 0.25, 0.5, 0.75, 1]) {
    axis.append(svg('line', { x1: L, x2: W - R, y1: Y(y), y2: Y(y), class: 'grid' }),
      svg('text', { x: L - 6, y: Y(y) + 4, 'text-anchor': 'end' }, y.toFixed(2)));
  }
  let lastLabel = -Infinity;
  for (const x of xs) {
    axis.append(svg('line', { x1: X(x), x2: X(x), y1: H - B, y2: H - B + 4, class: 'tick' }));
    if (X(x) - lastLabel >= 22) {
      axis.append(svg('text', { x: X(x), y: H - B + 17, 'text-anchor': 'middle' }, String(x)));
      lastLabel = X(x);
    }
  }
  axis.append(svg('text', { x: (L + W - R) / 2, y: H - 4, 'text-anchor': 'middle', class: 'axis-label' }, log ? 'k (log scale)' : 'k'));
  const lines = series.map((s) => {
    const pts = xs.map((x, j) => [x, s.values[j]]).filter(([, v]) => typeof v === 'number');
    return svg('g', { class: `series s${s.index % 8}` },
      svg('polyline', { class: 'line', points: pts.map(([x, v]) => `${X(x).toFixed(1)},${Y(v).toFixed(1)}`).join(' ') }),
      pts.map(([x, v]) => {
        const m = marker(s.index, X(x), Y(v));
        m.append(svg('title', {}, `${s.name}: ${label.replace('k', x)} = ${v.toFixed(4)}`));
        return m;
      }));
  });
  const described = series.map((s) => `${s.name} ${s.values.map((v) => f4(v)).join(', ')}`).join('; ');
  return svg('svg', { viewBox: `0 0 ${W} ${H}`, class: 'plot', role: 'img',
    'aria-label': `${label} against k (${xs.join(', ')}), one line per model: ${described}. The table below has the values.` },
  axis, lines);
}

function marker(i, x, y) {
  const kind = MARKERS[i % MARKERS.length];
  const r = 4;
  const poly = (pts) => svg('polygon', { class: 'marker', points: pts.map(([a, b]) => `${(x + a).toFixed(1)},${(y + b).toFixed(1)}`).join(' ') });
  switch (kind) {
    case 'square': return svg('rect', { class: 'marker', x: x - r, y: y - r, width: 2 * r, height: 2 * r });
    case 'triangle': return poly([[0, -r - 1], [r + 1, r], [-r - 1, r]]);
    case 'diamond': return poly([[0, -r - 1], [r + 1, 0], [0, r + 1], [-r - 1, 0]]);
    case 'down': return poly([[0, r + 1], [r + 1, -r], [-r - 1, -r]]);
    case 'cross': return poly([[-r, -r], [0, -1.5], [r, -r], [1.5, 0], [r, r], [0, 1.5], [-r, r], [-1.5, 0]]);
    default: return svg('circle', { class: 'marker', cx: x, cy: y, r });
  }
}

// ---- 3. per-query explorer -----------------------------------------------------------------

/** Query ids in the order the models evaluated them (then any other judged ones). */
function queryIds(ctx) {
  const ids = new Set();
  for (const rows of Object.values(ctx.details.per_query)) for (const q of rows) ids.add(q.query_id);
  return [...ids];
}

/** model name → query id → its per_query row. */
function perQuery(ctx) {
  return new Map(Object.entries(ctx.details.per_query).map(([m, rows]) => [m, new Map(rows.map((q) => [q.query_id, q]))]));
}

function explorer(ctx) {
  const h = heading(ctx, 'Per-query explorer');
  if (!ctx.details) return section(ctx, 'explorer', [h, omitted('per-query views need results.json written with --details ids or texts')]);
  const rows = perQuery(ctx);
  const ids = queryIds(ctx);
  const qtext = (q) => ctx.texts?.queries?.[q] ?? '';
  const key = ctx.sortKey;
  const values = (q) => ctx.ranked.map((m) => rows.get(m.name)?.get(q)?.metrics?.[key]).filter((v) => typeof v === 'number');
  const orders = {
    id: ids,
    hardest: [...ids].sort((a, b) => mean(values(a)) - mean(values(b))),
    disagree: [...ids].sort((a, b) => spread(values(b)) - spread(values(a))),
  };

  const filterId = ctx.id('filter');
  const selectId = ctx.id('query');
  const orderId = ctx.id('order');
  const filter = el('input', { id: filterId, type: 'search', autocomplete: 'off', spellcheck: 'false', placeholder: ctx.texts ? 'id or words' : 'query id' });
  const order = el('select', { id: orderId },
    el('option', { value: 'id' }, 'in dataset order'),
    el('option', { value: 'hardest' }, `hardest first (lowest mean ${metricLabel(key)})`),
    el('option', { value: 'disagree' }, `models disagree most (${metricLabel(key)} range)`));
  const select = el('select', { id: selectId, class: 'query-select' });
  const shown = el('span', { class: 'hint', 'aria-live': 'polite' });
  const out = el('div', { class: 'query-detail' });

  const fill = () => {
    const words = filter.value.trim().toLowerCase();
    const list = orders[order.value].filter((q) => !words || q.toLowerCase().includes(words) || qtext(q).toLowerCase().includes(words));
    const keep = list.includes(select.value) ? select.value : list[0];
    select.replaceChildren(...list.map((q) => {
      const o = new Option(qtext(q) ? `${q} — ${clip(qtext(q), 70)}` : q, q, false, q === keep);
      setLang(o, qtext(q));
      return o;
    }));
    shown.textContent = `(${list.length} of ${ids.length})`;
    if (keep !== out.dataset.query) showQuery(keep);
  };
  const showQuery = (q) => {
    out.dataset.query = q ?? '';
    out.replaceChildren(...(q == null ? [el('p', {}, 'No query matches.')] : queryDetail(ctx, q, rows)));
  };
  filter.addEventListener('input', fill);
  order.addEventListener('change', fill);
  select.addEventListener('change', () => showQuery(select.value));
  ctx.explore = (q) => {
    filter.value = '';
    order.value = 'id';
    fill();
    select.value = q;
    showQuery(q);
    h.scrollIntoView?.({ block: 'start' });
    select.focus();
  };
  fill();

  const controls = el('div', { class: 'controls' },
    el('p', {}, el('label', { for: filterId }, 'Filter queries'), filter),
    el('p', {}, el('label', { for: orderId }, 'Order'), order),
    el('p', { class: 'grow' }, el('label', { for: selectId }, 'Query ', shown), select));
  const parts = [h, controls];
  if (!ctx.texts) parts.push(el('p', { class: 'omitted' }, ctx.r.results_only ? 'Query and document texts were not included in this share: ids only.' : 'Ids only: texts need results.json written with --details texts.'));
  parts.push(out);
  return section(ctx, 'explorer', parts);
}

function queryDetail(ctx, q, rows) {
  const qrels = ctx.details.qrels?.[q] ?? {};
  const docText = (d) => ctx.texts?.docs?.[d] ?? '';
  const grade = (d) => qrels[d];
  const parts = [];
  const title = el(`h${Math.min(ctx.level + 1, 6)}`, { class: 'query-title' }, el('code', {}, q));
  if (ctx.texts?.queries?.[q]) title.append(' ', txt(ctx.texts.queries[q]));
  parts.push(title);

  // Judged documents, relevant first.
  const judged = Object.entries(qrels).sort(([, a], [, b]) => b - a);
  const relevant = judged.filter(([, g]) => g > 0).length;
  parts.push(scroll(el('table', { class: 'gold' },
    el('caption', {}, `Judged documents: ${relevant} relevant${judged.length > relevant ? `, ${judged.length - relevant} judged not relevant` : ''}`),
    el('thead', {}, el('tr', {}, el('th', { scope: 'col' }, 'doc'), el('th', { scope: 'col', class: 'num' }, 'grade'), ctx.texts && el('th', { scope: 'col' }, 'text'))),
    el('tbody', {}, judged.map(([d, g]) => el('tr', { class: g > 0 ? 'relevant' : null },
      el('th', { scope: 'row' }, el('code', {}, d)), el('td', { class: 'num' }, String(g)), ctx.texts && t('td', docText(d), { class: 'preview' }))))), 'Judged documents'));

  // Per-query metrics, one row per model.
  const keys = [...new Set([...COLUMNS.filter(([, , k]) => ctx.ks.includes(k)).map(([m, , k]) => `${m}@${k}`), ctx.sortKey])];
  parts.push(scroll(el('table', { class: 'metrics compact per-query-metrics' },
    el('caption', {}, 'Metrics for this query'),
    el('thead', {}, el('tr', {}, el('th', { scope: 'col' }, 'model'), keys.map((k) => el('th', { scope: 'col', class: 'num' }, metricLabel(k))),
      el('th', { scope: 'col', class: 'num' }, 'first relevant'))),
    el('tbody', {}, ctx.ranked.map((m) => {
      const row = rows.get(m.name)?.get(q);
      return el('tr', {}, t('th', m.name, { scope: 'row' }), keys.map((k) => el('td', { class: 'num' }, f4(row?.metrics?.[k]))),
        el('td', { class: 'num' }, row ? (row.first_relevant_rank == null ? 'none' : String(row.first_relevant_rank)) : 'not run'));
    }))), 'Metrics for this query'));

  // Each model's top list.
  const tops = el('div', { class: 'tops' });
  for (const m of ctx.ranked) {
    const row = rows.get(m.name)?.get(q);
    const rank = row?.first_relevant_rank;
    const caption = el('caption', {}, txt(m.name), el('span', { class: 'hint' },
      row ? ` — first relevant at ${rank == null ? 'no rank (none retrieved)' : `rank ${rank}`}` : ' — this model did not rank this query'));
    const table = el('table', { class: 'top', 'data-model': m.name }, caption,
      el('thead', {}, el('tr', {}, el('th', { scope: 'col', class: 'num' }, '#'), el('th', { scope: 'col' }, 'doc'),
        el('th', { scope: 'col', class: 'num' }, 'score'), el('th', { scope: 'col', class: 'num' }, 'grade'),
        ctx.texts && el('th', { scope: 'col' }, 'text'))),
      el('tbody', {}, (row?.top ?? []).map(([d, score], i) => {
        const g = grade(d);
        return el('tr', { class: g > 0 ? 'relevant' : null },
          el('td', { class: 'num' }, String(i + 1)),
          el('th', { scope: 'row' }, el('code', {}, d)),
          el('td', { class: 'num' }, fixed(score, 4)),
          el('td', { class: 'num' }, g == null ? '' : g > 0 ? `✓ ${g}` : '0'),
          ctx.texts && el('td', { class: 'preview' }, t('span', docText(d), { class: 'clamp' })));
      })));
    tops.append(scroll(table, `${m.name} top ${row?.top?.length ?? 0}`));
  }
  parts.push(tops, el('p', { class: 'hint' }, '✓ grade: a relevant document (its judgment grade); 0: judged not relevant; blank: not judged.'));
  return parts;
}

// ---- 4. model vs model ---------------------------------------------------------------------

function versus(ctx) {
  const h = heading(ctx, 'Model vs model');
  if (!ctx.details) return section(ctx, 'versus', [h, omitted('model vs model needs results.json written with --details ids or texts')]);
  if (ctx.r.models.length < 2) return section(ctx, 'versus', [h, omitted('model vs model needs two or more models')]);
  const rows = perQuery(ctx);
  const ids = queryIds(ctx);
  const names = ctx.ranked.map((m) => m.name);
  const keys = Object.keys(Object.values(ctx.details.per_query).flat()[0]?.metrics ?? {});
  const pick = (label, options, value) => {
    const id = ctx.id('pick');
    const s = el('select', { id }, options.map(([v, l]) => {
      const o = new Option(l, v, false, v === value);
      setLang(o, l);
      return o;
    }));
    return [s, el('p', {}, el('label', { for: id }, label), s)];
  };
  const [a, pa] = pick('Model A', names.map((n) => [n, n]), names[0]);
  const [b, pb] = pick('Model B', names.map((n) => [n, n]), names[1]);
  const [metric, pm] = pick('Metric', keys.map((k) => [k, metricLabel(k)]), keys.includes(ctx.sortKey) ? ctx.sortKey : keys[0]);
  const result = el('div', { class: 'versus-result' });
  const draw = () => result.replaceChildren(...versusResult(ctx, rows, ids, a.value, b.value, metric.value));
  for (const s of [a, b, metric]) s.addEventListener('change', draw);
  draw();
  return section(ctx, 'versus', [h, el('div', { class: 'controls' }, pa, pb, pm), result]);
}

function versusResult(ctx, rows, ids, A, B, key) {
  const label = metricLabel(key);
  const pairs = ids.map((q) => [q, rows.get(A)?.get(q)?.metrics?.[key], rows.get(B)?.get(q)?.metrics?.[key]])
    .filter(([, x, y]) => typeof x === 'number' && typeof y === 'number');
  let wins = 0, losses = 0, ties = 0;
  for (const [, x, y] of pairs) {
    if (Math.abs(x - y) <= TIE_EPS) ties++;
    else if (x > y) wins++;
    else losses++;
  }
  const parts = [];
  if (A === B) parts.push(omitted('choose two different models'));
  const meanA = mean(pairs.map(([, x]) => x));
  const meanB = mean(pairs.map(([, , y]) => y));
  parts.push(el('p', { class: 'wlt', 'aria-live': 'polite' },
    txt(A), ' is better on ', el('strong', { class: 'wins' }, String(wins)), ` ${pairs.length === 1 ? 'query' : 'queries'}, `,
    txt(B), ' on ', el('strong', { class: 'losses' }, String(losses)), ', tied on ', el('strong', { class: 'ties' }, String(ties)),
    ` of ${pairs.length} (${label}; mean ${f4(meanA)} vs ${f4(meanB)}).`));

  // Scatter: one point per distinct (A, B) pair of values, so equal pairs are one bigger point.
  const groups = new Map();
  for (const [q, x, y] of pairs) {
    const k = `${x.toFixed(4)},${y.toFixed(4)}`;
    if (!groups.has(k)) groups.set(k, { x, y, qs: [] });
    groups.get(k).qs.push(q);
  }
  const points = [...groups.values()].sort((p, r) => p.x - r.x || p.y - r.y);
  const S = 300, L = 50, T = 12, R = 18; // room for the largest point and the last label
  const P = S - L - R;
  const X = (v) => L + v * P;
  const Y = (v) => T + (1 - v) * P;
  const readout = el('p', { class: 'readout hint', 'aria-live': 'polite' }, 'Hover a point, or Tab to the plot and use the arrow keys; Enter opens the query in the explorer.');
  const describe = (p) => `${p.qs.length === 1 ? p.qs[0] : `${p.qs.length} queries (${p.qs.slice(0, 6).join(', ')}${p.qs.length > 6 ? ', …' : ''})`}: ` +
    `${A} ${p.x.toFixed(4)}, ${B} ${p.y.toFixed(4)}`;
  const queryText = (q) => ctx.texts?.queries?.[q];
  const plot = svg('g', { class: 'points' });
  const dots = points.map((p, i) => {
    const cls = Math.abs(p.x - p.y) <= TIE_EPS ? 'tie' : `series s${ctx.series.get(p.x > p.y ? A : B) % 8}`;
    const dot = svg('circle', { class: `pt ${cls}`, cx: X(p.x).toFixed(1), cy: Y(p.y).toFixed(1), r: Math.min(4 + 1.5 * Math.sqrt(p.qs.length - 1), 12).toFixed(1),
      tabindex: i === 0 ? 0 : -1, 'data-queries': p.qs.join(' '), role: 'button', 'aria-label': describe(p) });
    const text = p.qs.length === 1 && queryText(p.qs[0]) ? `${describe(p)} — ${queryText(p.qs[0])}` : describe(p);
    dot.append(svg('title', {}, text));
    const show = () => {
      readout.textContent = text;
      setLang(readout, text);
    };
    dot.addEventListener('mouseenter', show);
    dot.addEventListener('focus', show);
    dot.addEventListener('click', () => ctx.explore?.(p.qs[0]));
    return dot;
  });
  plot.append(...dots);
  plot.addEventListener('keydown', (e) => {
    const i = dots.indexOf(e.target);
    if (i < 0) return;
    const step = { ArrowRight: 1, ArrowUp: 1, ArrowLeft: -1, ArrowDown: -1, Home: -Infinity, End: Infinity }[e.key];
    if (step !== undefined) {
      e.preventDefault();
      const j = Math.max(0, Math.min(dots.length - 1, i + step));
      dots[i].setAttribute('tabindex', -1);
      dots[j].setAttribute('tabindex', 0);
      dots[j].focus();
    } else if (e.key === 'Enter' || e.key === ' ') {
      e.preventDefault();
      ctx.explore?.(points[i].qs[0]);
    }
  });
  const axis = svg('g', { class: 'axis' });
  for (const v of [0, 0.25, 0.5, 0.75, 1]) {
    axis.append(svg('line', { x1: L, x2: S - R, y1: Y(v), y2: Y(v), class: 'grid' }),
      svg('line', { x1: X(v), x2: X(v), y1: T, y2: T + P, class: 'grid' }),
      svg('text', { x: L - 6, y: Y(v) + 4, 'text-anchor': 'end' }, v.toFixed(2)),
      svg('text', { x: X(v), y: T + P + 18, 'text-anchor': 'middle' }, v.toFixed(2)));
  }
  axis.append(svg('line', { x1: X(0), y1: Y(0), x2: X(1), y2: Y(1), class: 'diagonal' }),
    svg('text', { x: (L + S - R) / 2, y: T + P + 36, 'text-anchor': 'middle', class: 'axis-label' }, `A: ${clip(A, 30)}`),
    svg('text', { x: 10, y: T + P / 2, 'text-anchor': 'middle', class: 'axis-label', transform: `rotate(-90 10 ${T + P / 2})` }, `B: ${clip(B, 30)}`),
    svg('text', { x: X(0.03), y: Y(0.93), class: 'corner' }, 'B better'),
    svg('text', { x: X(0.97), y: Y(0.05), 'text-anchor': 'end', class: 'corner' }, 'A better'));
  // A group, not an img: role=img would hide the points, which are reachable by keyboard.
  const chart = svg('svg', { viewBox: `0 0 ${S} ${T + P + 44}`, class: 'plot scatter', role: 'group',
    'aria-label': `${label} per query, ${A} (x) against ${B} (y), ${pairs.length} queries: ${A} better on ${wins}, ${B} on ${losses}, tied on ${ties}. The list beside it has the queries where they differ most.` },
  axis, plot);

  // Where they differ most.
  const differ = pairs.filter(([, x, y]) => Math.abs(x - y) > TIE_EPS).sort((p, r) => Math.abs(r[2] - r[1]) - Math.abs(p[2] - p[1])).slice(0, 10);
  const list = differ.length === 0 ? el('p', {}, 'They score every query the same.') : scroll(el('table', { class: 'metrics compact differ' },
    el('caption', {}, `Queries where they differ most (${label})`),
    el('thead', {}, el('tr', {}, el('th', { scope: 'col' }, 'query'), el('th', { scope: 'col', class: 'num' }, 'A'), el('th', { scope: 'col', class: 'num' }, 'B'),
      el('th', { scope: 'col', class: 'num' }, 'B − A'), el('th', { scope: 'col' }, el('span', { class: 'visually-hidden' }, 'explore')))),
    el('tbody', {}, differ.map(([q, x, y]) => el('tr', {},
      el('th', { scope: 'row' }, el('code', {}, q), queryText(q) ? el('span', { class: 'qtext' }, ' ', txt(clip(queryText(q), 60))) : null),
      el('td', { class: 'num' }, f4(x)), el('td', { class: 'num' }, f4(y)), el('td', { class: 'num' }, signed(y - x)),
      el('td', {}, button('explore', `Open ${q} in the per-query explorer`, () => ctx.explore?.(q))))))), 'Queries where they differ most');
  parts.push(el('div', { class: 'versus-grid' }, el('figure', { class: 'chart scatter-figure' }, chart, readout), list));
  return parts;
}

// ---- 5. failures ---------------------------------------------------------------------------

function failures(ctx) {
  const h = heading(ctx, 'Failures');
  const { r } = ctx;
  if (!r.models.some((m) => m.failures?.length)) return section(ctx, 'failures', [h, omitted('failures need results.json written with --failures N (none was listed)')]);
  const fk = r.config?.failure_k ?? 10;
  const all = r.models.flatMap((m) => m.failures ?? []);
  const hasText = all.some((f) => f.query || f.missed?.some(([, p]) => p) || f.retrieved?.some(([, , p]) => p));
  const parts = [h, el('p', { class: 'hint' }, `Per model, its worst queries: relevant documents it missed in its top ${fk}, and what it ranked there instead.`)];
  if (!hasText && all.length) parts.push(el('p', { class: 'omitted' }, r.results_only ? 'Query and document texts were not included in this share: ids only.' : 'These failures carry no texts: ids only.'));
  ctx.ranked.forEach((m, i) => {
    const list = m.failures ?? [];
    const box = el('details', { class: 'failures', open: i === 0 ? true : null, 'data-model': m.name },
      el('summary', {}, txt(m.name), ` — ${list.length === 0 ? 'no failures listed' : count(list.length, 'query', 'queries')}`));
    if (list.length) box.append(el('ol', { class: 'failure-list' }, list.map((f) => failure(f))));
    parts.push(box);
  });
  return section(ctx, 'failures', parts);
}

function failure(f) {
  const head = el('p', { class: 'failure-head' }, el('code', {}, f.query_id));
  if (f.query) head.append(' ', txt(f.query));
  head.append(el('span', { class: 'hint' }, ` — recall ${fixed(f.recall, 2)}, first relevant ${f.first_relevant_rank == null ? 'not retrieved' : `at rank ${f.first_relevant_rank}`}`));
  const docs = (title, entries, scoreAt) => entries?.length ? el('div', { class: 'docs' }, el('p', { class: 'docs-title' }, title),
    el(scoreAt ? 'ol' : 'ul', {}, entries.map((e) => el('li', {}, el('code', {}, e[0]), scoreAt ? el('span', { class: 'hint' }, ` (${fixed(e[1], 3)})`) : null,
      e[scoreAt ? 2 : 1] ? el('span', { class: 'preview' }, ' ', txt(e[scoreAt ? 2 : 1])) : null)))) : null;
  return el('li', {}, head, el('div', { class: 'failure-docs' }, docs('missed', f.missed, false), docs('ranked instead', f.retrieved, true)));
}

// ---- 6. efficiency -------------------------------------------------------------------------

function efficiency(ctx) {
  const h = heading(ctx, 'Efficiency');
  const whole = (v) => Math.round(v).toLocaleString('en-US');
  // Encoding speed of one side: texts/s and tokens/s on two lines; `cached` when no text was encoded.
  const rate = (m, side) => {
    const s = m.search?.throughput?.[side];
    if (!s) return '–';
    if (s.texts > 0 && s.cached === s.texts) return 'cached';
    return s.texts_per_s ? [`${whole(s.texts_per_s)} texts/s`, el('br'), `${whole(s.tokens_per_s)} tok/s`] : '–';
  };
  const cols = [
    ['total (s)', (m) => fixed(m.timings?.total_s, 2)],
    ['index (s)', (m) => fixed(m.timings?.index_s, 2)],
    ['search (s)', (m) => fixed(m.timings?.search_s, 3)],
    ['metrics (s)', (m) => fixed(m.timings?.metrics_s, 3)],
    ['queries encoded', (m) => rate(m, 'queries')],
    ['docs encoded', (m) => rate(m, 'docs')],
    ['peak memory (MiB)', (m) => fixed(m.search?.throughput?.memory?.peak_mib, 1, '–')],
  ];
  const table = el('table', { class: 'metrics efficiency' },
    el('caption', {}, 'Time, throughput and memory'),
    el('thead', {}, el('tr', {}, el('th', { scope: 'col' }, 'model'), cols.map(([l]) => el('th', { scope: 'col', class: 'num' }, l)), el('th', { scope: 'col' }, 'search'))),
    el('tbody', {}, ctx.ranked.map((m) => el('tr', {}, t('th', m.name, { scope: 'row' }), cols.map(([, f]) => el('td', { class: 'num' }, f(m))),
      el('td', { class: 'search-path' }, m.search?.path ?? '')))));
  const encoders = ctx.ranked.filter((m) => m.search?.encoder).map((m) => {
    const e = m.search.encoder;
    const bits = [e.api && `${e.api} API: ${e.model} at ${e.base_url}`, e.architecture, e.pooling && `${e.pooling} pooling`, e.normalize && 'normalized', e.dim && `dim ${e.dim}`, e.dtype,
      e.max_seq_length && `max ${e.max_seq_length} tokens`,
      e.prompts && (e.prompts.query || e.prompts.document ? `prompts “${e.prompts.query}” / “${e.prompts.document}” (${e.prompts.source})` : 'no prompts')];
    return el('li', {}, txt(m.name), `: ${bits.filter(Boolean).join(', ')}`);
  });
  const notices = ctx.ranked.filter((m) => m.search?.notice).map((m) => el('li', {}, txt(m.name), ': ', txt(m.search.notice)));
  const parts = [h, scroll(table, 'Time, throughput and memory'),
    el('p', { class: 'hint' }, 'index: encoding the documents and building the index; texts/s and tokens/s (tok/s) count the texts encoded in this run (cached: every text came from the embedding cache); peak memory is the model’s, where measured.')];
  if (encoders.length) parts.push(el('p', { class: 'sub' }, 'Encoders'), el('ul', { class: 'plain' }, encoders));
  if (notices.length) parts.push(el('p', { class: 'sub' }, 'Search notices'), el('ul', { class: 'plain' }, notices));
  return section(ctx, 'efficiency', parts);
}

// ---- small helpers -------------------------------------------------------------------------

function section(ctx, name, children) {
  const s = el('section', { class: `view view-${name}` }, children);
  const h = s.querySelector('h1, h2, h3, h4, h5, h6');
  if (h) {
    h.id = ctx.id(name);
    s.setAttribute('aria-labelledby', h.id);
  }
  return s;
}

function heading(ctx, text) {
  return el(`h${ctx.level}`, {}, text);
}

function omitted(text) {
  return el('p', { class: 'omitted' }, `Not shown: ${text}.`);
}

/** A wide table in a box that scrolls sideways on a phone, reachable and named for the keyboard. */
function scroll(table, name) {
  return el('div', { class: 'scroll', tabindex: 0, role: 'region', 'aria-label': name }, table);
}

function button(text, label, onClick) {
  const b = el('button', { type: 'button', class: 'small', 'aria-label': label }, text);
  b.addEventListener('click', onClick);
  return b;
}

/** Element with attributes (null/false left out) and children (strings become text nodes). */
export function el(tag, attrs = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) if (v != null && v !== false) e.setAttribute(k, v === true ? '' : v);
  append(e, children);
  return e;
}

function svg(tag, attrs = {}, ...children) {
  const e = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) if (v != null) e.setAttribute(k, v);
  append(e, children);
  return e;
}

function append(e, children) {
  for (const c of children.flat(Infinity)) if (c != null && c !== false) e.append(c);
}

/** An element holding `text`, marked Japanese when it is. */
export function t(tag, text, attrs = {}) {
  const e = el(tag, attrs);
  e.textContent = text;
  setLang(e, text);
  return e;
}

/** Text inside mixed content: a span lang=ja for Japanese, else a plain text node. */
function txt(text) {
  return isJapanese(text) ? t('span', text) : document.createTextNode(text);
}

/** Whether the reader's browser puts Japanese before Chinese among its languages. */
const READS_JAPANESE = (() => {
  const langs = (globalThis.navigator?.languages ?? []).map((l) => l.toLowerCase());
  const ja = langs.findIndex((l) => l.startsWith('ja'));
  const zh = langs.findIndex((l) => l.startsWith('zh'));
  return ja >= 0 && (zh < 0 || ja < zh);
})();

/** Japanese text: kana, or kanji alone (`文書1`, `梅雨`) for a reader whose browser prefers
 *  Japanese to Chinese. lang=ja picks Japanese glyph forms for the kanji. */
function isJapanese(text) {
  return /[\u3040-\u30ff]/.test(text) || (READS_JAPANESE && /[\u3400-\u9fff\uf900-\ufaff]/.test(text));
}

export function setLang(e, text) {
  if (isJapanese(text)) e.lang = 'ja';
  else e.removeAttribute('lang');
}

function metricLabel(key) {
  const [m, k] = key.split('@');
  return `${LABELS[m] ?? m}@${k}`;
}

const f4 = (v) => (typeof v === 'number' ? v.toFixed(4) : '-');
const fixed = (v, d, none = '') => (typeof v === 'number' ? v.toFixed(d) : none);
const signed = (v) => (typeof v === 'number' ? `${v >= 0 ? '+' : '−'}${Math.abs(v).toFixed(4)}` : '');
const mean = (xs) => (xs.length ? xs.reduce((s, x) => s + x, 0) / xs.length : NaN);
const spread = (xs) => (xs.length ? Math.max(...xs) - Math.min(...xs) : 0);
const count = (n, one, many) => `${n} ${n === 1 ? one : many}`;
const clip = (s, n) => ([...s].length > n ? `${[...s].slice(0, n - 1).join('')}…` : s);

/** A p-value to 3 significant digits, `< 0.0001` below that (as results.md prints it). */
function pValue(p) {
  if (typeof p !== 'number') return '';
  if (p < 1e-4) return '< 0.0001';
  return p.toFixed(Math.max(0, 2 - Math.floor(Math.log10(p))));
}
