// The browser page end to end: serve www/ from 127.0.0.1, choose real datasets in headless
// Chromium, run them, and require every number the page shows and offers for download to
// equal what the native CLI writes for the same files and settings.
//
//   node tests/e2e/e2e.mjs     (after scripts/build-web.sh and a release CLI build; see scripts/test-web.sh)
//
// Neural models (when scripts/build-web.sh bundled all-MiniLM-L6-v2 into www/models/): the
// page's BM25 + MiniLM evaluation of demo/ must equal the CLI's results.json; the model comes
// from Cache Storage the second time (no request for its files); a chosen model folder with
// typed prompts must equal the CLI with --query-prompt/--doc-prompt; and the worker's vectors for
// the texts of tests/fixtures/st_embeddings must equal the native build's (max |diff| ≤ 1e-5)
// and sentence-transformers' own (≤ 1e-4, as tests/st_models.rs allows natively).
//
// Env: EMBEVAL_BIN (native CLI with the `models` feature; default target/release/embeval),
// EMBEVAL_DATA (shared data folder; default ../shared/data), CHROMIUM (default /usr/bin/chromium).
// Screenshots go to tests/e2e/artifacts/.

import { execFileSync } from 'node:child_process';
import { createServer } from 'node:http';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, extname, join, normalize, resolve, sep } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { chromium } from 'playwright-core';
import { check, launchChromium, run, runAndWait } from './harness.mjs';
import { compareVectors } from './vectors.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const root = resolve(here, '../..');
const www = join(root, 'www');
const artifacts = join(here, 'artifacts');
const data = resolve(root, process.env.EMBEVAL_DATA ?? '../shared/data');
const bin = resolve(root, process.env.EMBEVAL_BIN ?? 'target/release/embeval');
const TOLERANCE = 1e-12;
const VECTOR_TOLERANCE = 1e-5; // wasm vs native, per component
const ST_TOLERANCE = 1e-4; // wasm vs sentence-transformers (PyTorch), as tests/st_models.rs


// ---- the native reference ------------------------------------------------------------------

/** Runs the CLI with the details and failures the page asks for; returns its
 *  results.json, per_query.jsonl, report.html and the Markdown table it prints. */
function native(args, cwd) {
  const out = mkdtempSync(join(tmpdir(), 'embeval-e2e-'));
  try {
    const stdout = execFileSync(bin, ['eval', ...args, '--details', 'texts', '--failures', '5', '--out', out, '--quiet'], { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
    return {
      results: JSON.parse(readFileSync(join(out, 'results.json'), 'utf8')),
      perQuery: readFileSync(join(out, 'per_query.jsonl'), 'utf8'),
      report: readFileSync(join(out, 'report.html'), 'utf8'),
      table: markdownRows(stdout),
      // --save-runs: runs/LABEL.trec → text
      runs: existsSync(join(out, 'runs'))
        ? Object.fromEntries(readdirSync(join(out, 'runs')).map((f) => [f, readFileSync(join(out, 'runs', f), 'utf8')]))
        : {},
    };
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
}

/** The first Markdown table (`| model | nDCG@10 | ... |`, the results; the significance table
 *  follows it) → [[cells], ...] without the separator line. */
function markdownRows(md) {
  const lines = md.split('\n');
  const start = lines.findIndex((l) => l.startsWith('|'));
  const end = lines.findIndex((l, i) => i > start && !l.startsWith('|'));
  return lines.slice(start, end < 0 ? undefined : end).filter((l) => !l.startsWith('|---'))
    .map((l) => l.slice(1, -1).split(' | ').map((c) => c.trim()));
}

/** Differences between two JSON values: numbers within TOLERANCE; timings and encoding
 *  throughput (seconds, texts/s, cache hits) skipped. */
function diff(a, b, path = '$', out = []) {
  if (typeof a === 'number' && typeof b === 'number') {
    if (!(Math.abs(a - b) <= TOLERANCE)) out.push(`${path}: ${a} vs ${b}`);
  } else if (Array.isArray(a) && Array.isArray(b)) {
    if (a.length !== b.length) out.push(`${path}: length ${a.length} vs ${b.length}`);
    else a.forEach((x, i) => diff(x, b[i], `${path}[${i}]`, out));
  } else if (a && b && typeof a === 'object' && typeof b === 'object') {
    const keys = (o) => Object.keys(o).filter((k) => k !== 'timings' && k !== 'throughput');
    if (keys(a).join() !== keys(b).join()) out.push(`${path}: keys ${keys(a)} vs ${keys(b)}`);
    else keys(a).forEach((k) => diff(a[k], b[k], `${path}.${k}`, out));
  } else if (a !== b) {
    out.push(`${path}: ${JSON.stringify(a)} vs ${JSON.stringify(b)}`);
  }
  return out;
}

/** Compares the top lists of per-query rows ({model, query_id, top}, as in per_query.jsonl
 *  and results.json's details) of embedding and neural models, then removes them so that
 *  diff() compares the rest exactly. Returns [differences, scores differing at all].
 *  Embedding scores come from sgemm: natively matrixmultiply picks an FMA kernel at run
 *  time, wasm has no FMA, so scores may differ in the last f32 bits (2^-21 relative allows
 *  4 ulps). Neural models' vectors themselves differ by up to VECTOR_TOLERANCE per component
 *  (the forward pass's sums run in another order), so their scores get that much absolute.
 *  The ranked doc ids must still be identical; BM25 scores must match exactly (diff). */
function compareTops(got, want, models) {
  const kind = new Map(models.map((m) => [m.name, m.spec.kind]));
  let lastBits = 0;
  const diffs = [];
  got.forEach((row, i) => {
    const k = kind.get(row.model);
    if (!(k === 'emb' || k === 'neural') || !want[i]) return;
    const close = (x, y) => (k === 'neural' ? Math.abs(x - y) <= VECTOR_TOLERANCE : Math.abs(x - y) <= 2 ** -21 * Math.abs(y));
    const [a, b] = [row.top, want[i].top];
    if (a.map(([d]) => d).join() !== b.map(([d]) => d).join()) diffs.push(`[${i}] ${row.query_id}: ranking differs`);
    a.forEach(([, x], j) => {
      const y = b[j]?.[1];
      if (x !== y) lastBits++;
      if (!close(x, y)) diffs.push(`[${i}] ${row.query_id} top ${j}: ${x} vs ${y}`);
    });
    delete row.top;
    delete want[i].top;
  });
  return [diffs, lastBits];
}

/** diff() of two results.json, with the scores in the details' top lists and in the
 *  failures' `retrieved` lists compared as compareTops does. */
function diffResults(a, b) {
  [a, b] = [structuredClone(a), structuredClone(b)];
  const rows = (r) => Object.values(r.details?.per_query ?? {}).flat();
  const diffs = compareTops(rows(a), rows(b), b.models)[0];
  // Failures: `retrieved` is [[doc, score, preview], ..]; the scores compared, then set aside.
  const retrieved = (r) => r.models.flatMap((m) => (m.failures ?? []).map((f) => ({ model: m.name, query_id: f.query_id, top: f.retrieved })));
  const [ra, rb] = [retrieved(a), retrieved(b)];
  diffs.push(...compareTops(structuredClone(ra), structuredClone(rb), b.models)[0]);
  for (const f of [...ra, ...rb]) f.top?.forEach((e) => e.splice(1, 1));
  return [...diffs, ...diff(a, b)];
}

/** Writes a 2-D float32 .npy file. */
function writeNpy(path, rows, dim, data) {
  let header = `{'descr': '<f4', 'fortran_order': False, 'shape': (${rows}, ${dim}), }`;
  header += ' '.repeat(63 - ((10 + header.length) % 64)) + '\n';
  const head = Buffer.alloc(10);
  head.write('\x93NUMPY', 0, 'latin1');
  head.writeUInt8(1, 6);
  head.writeUInt16LE(header.length, 8);
  writeFileSync(path, Buffer.concat([head, Buffer.from(header, 'latin1'), Buffer.from(data.buffer)]));
}

/** Precomputed embeddings for a BEIR folder, rows in file order: random doc vectors, and
 *  each query near its first relevant doc, so the ranking is good but not perfect. */
function makeEmbeddings(dir, out, dim = 48) {
  let seed = 42;
  const rand = () => { // mulberry32
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 2 ** 32 * 2 - 1;
  };
  const ids = (f) => readFileSync(join(dir, f), 'utf8').trim().split('\n').map((l) => JSON.parse(l)._id);
  const docs = ids('corpus.jsonl');
  const queries = ids('queries.jsonl');
  const rel = new Map(readFileSync(join(dir, 'qrels/test.tsv'), 'utf8').trim().split('\n').slice(1).map((l) => l.split('\t')).reverse());
  const d = Float32Array.from({ length: docs.length * dim }, rand);
  const row = new Map(docs.map((id, i) => [id, i]));
  const q = new Float32Array(queries.length * dim);
  queries.forEach((id, i) => {
    const r = row.get(rel.get(id)) ?? 0;
    for (let j = 0; j < dim; j++) q[i * dim + j] = 0.6 * d[r * dim + j] + rand();
  });
  writeNpy(join(out, 'q.npy'), queries.length, dim, q);
  writeNpy(join(out, 'd.npy'), docs.length, dim, d);
  return [join(out, 'q.npy'), join(out, 'd.npy')];
}

/** float32 .npy (2-D, C order) → {rows, dim, data}. */
function readNpy(path) {
  const buf = readFileSync(path);
  const len = buf.readUInt16LE(8);
  const header = buf.toString('latin1', 10, 10 + len);
  const [rows, dim] = header.match(/'shape': \((\d+), (\d+)\)/).slice(1).map(Number);
  if (!header.includes("'<f4'")) throw new Error(`${path}: not float32`);
  const start = 10 + len;
  return { rows, dim, data: new Float32Array(buf.buffer.slice(buf.byteOffset + start, buf.byteOffset + start + rows * dim * 4)) };
}

/** The native CLI's vectors for `texts`: they are the corpus of a one-query dataset, evaluated
 *  with an empty embedding cache, whose vectors.bin (src/embed/cache.rs: records of a 16-byte
 *  text hash and `dim` f32 LE, appended in encoding order) then holds the query, then each text. */
function nativeVectors(modelDir, texts, dim) {
  const tmp = mkdtempSync(join(tmpdir(), 'embeval-e2e-vec-'));
  try {
    mkdirSync(join(tmp, 'data/qrels'), { recursive: true });
    writeFileSync(join(tmp, 'data/corpus.jsonl'), texts.map((text, i) => JSON.stringify({ _id: `t${i}`, text })).join('\n'));
    writeFileSync(join(tmp, 'data/queries.jsonl'), JSON.stringify({ _id: 'q', text: 'a query that is none of the texts' }));
    writeFileSync(join(tmp, 'data/qrels/test.tsv'), 'query-id\tcorpus-id\tscore\nq\tt0\t1\n');
    execFileSync(bin, ['eval', '--data', join(tmp, 'data'), '--model', modelDir, '--cache', join(tmp, 'cache'), '--out', join(tmp, 'out'), '--quiet'],
      { stdio: ['ignore', 'ignore', 'pipe'] });
    const [key] = readdirSync(join(tmp, 'cache'));
    const bin_ = readFileSync(join(tmp, 'cache', key, 'vectors.bin'));
    const rec = 16 + 4 * dim;
    if (bin_.length !== rec * (texts.length + 1)) throw new Error(`vectors.bin has ${bin_.length / rec} records, expected ${texts.length + 1}`);
    const out = new Float32Array(texts.length * dim);
    for (let i = 0; i < texts.length; i++) {
      const at = rec * (i + 1) + 16;
      for (let j = 0; j < dim; j++) out[i * dim + j] = bin_.readFloatLE(at + 4 * j);
    }
    return out;
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}

/** Runs a message through a fresh www/worker.js in the page; resolves with its answer. */
function inWorker(page, request) {
  return page.evaluate((request) => new Promise((ok, fail) => {
    const worker = new Worker('worker.js', { type: 'module' });
    const steps = [];
    const timer = setTimeout(() => fail(new Error(`worker silent; last progress ${JSON.stringify(steps.at(-1))}`)), 170_000);
    worker.onmessage = ({ data }) => {
      if (data.type === 'ready') worker.postMessage(request);
      else if (data.type === 'progress') steps.push([data.step, data.done, data.total]);
      else if (data.type === 'error' || data.type === 'vectors') {
        clearTimeout(timer);
        worker.terminate();
        if (data.type === 'error') fail(new Error(data.message));
        else ok({ dim: data.dim, vectors: Array.from(data.vectors), steps });
      }
    };
  }), request);
}

// ---- serving www/ --------------------------------------------------------------------------

const MIME = {
  '.html': 'text/html; charset=utf-8', '.js': 'text/javascript; charset=utf-8', '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8', '.wasm': 'application/wasm', '.json': 'application/json',
  '.wgsl': 'text/plain; charset=utf-8', '.png': 'image/png', '.svg': 'image/svg+xml', '.ts': 'text/plain; charset=utf-8',
  '.safetensors': 'application/octet-stream',
};

function serve() {
  const served = [];
  const missing = new Set(); // paths to answer 404, to see the page handle a broken deployment
  const server = createServer((req, res) => {
    const path = decodeURIComponent(new URL(req.url, 'http://127.0.0.1').pathname);
    const file = normalize(join(www, path.endsWith('/') ? `${path}index.html` : path));
    served.push(path);
    if (missing.has(path) || !file.startsWith(www + sep) || !existsSync(file) || !MIME[extname(file)]) {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found');
      return;
    }
    res.writeHead(200, { 'content-type': MIME[extname(file)], 'cache-control': 'no-store' }).end(readFileSync(file));
  });
  return new Promise((ok) => server.listen(0, '127.0.0.1', () => ok({ server, served, missing, port: server.address().port })));
}

// ---- driving the page ----------------------------------------------------------------------


/** The comparison table as shown: header labels and each row's cells. */
function shownTable(page, table = '#table') {
  return page.evaluate((table) => [...document.querySelectorAll(`${table} tr`)].map((tr) => [...tr.cells].map((c) => c.textContent)), table);
}

/** Downloads `name`; `texts`: with "include query and document texts" checked (the full
 *  files) or not (results.json and report.html are then the results-only share). */
async function download(page, name, { texts = true } = {}) {
  await page.setChecked('#share-texts', texts);
  const [dl] = await Promise.all([page.waitForEvent('download'), page.click(`button[data-file="${name}"]`)]);
  if (dl.suggestedFilename() !== name) check(`the download is named ${name}`, false, dl.suggestedFilename());
  const path = join(artifacts, `download-${texts ? '' : 'share-'}${name}`);
  await dl.saveAs(path);
  return readFileSync(path, 'utf8');
}

/** One dataset run: the page against the CLI for the same files and settings. */
async function scenario(page, { name, choose, convention, k, models, cliArgs, cwd, shot, search, saveRuns, views: viewChecks }) {
  await page.goto(page.baseUrl);
  await choose(page);
  await page.check(`input[name=convention][value=${convention}]`);
  if (search) await page.check(`input[name=search][value=${search}]`);
  if (saveRuns) {
    await page.check('#save-runs');
    cliArgs = [...cliArgs, '--save-runs'];
  }
  await page.fill('#k', k);
  await page.fill('#models', models.join('\n'));
  await page.screenshot({ path: join(artifacts, `${shot}-chosen.png`), fullPage: true });

  const ref = native([...cliArgs, '--convention', convention, '--k', k, ...models.flatMap((m) => ['--model', m])], cwd);
  // Every status line shown, and the longest the page's thread went without running a timer.
  await page.evaluate(() => {
    const s = document.getElementById('status');
    window.__statuses = [];
    new MutationObserver(() => window.__statuses.push(s.textContent)).observe(s, { childList: true, characterData: true, subtree: true });
    let last = performance.now();
    window.__maxStallMs = 0;
    setInterval(() => {
      const now = performance.now();
      window.__maxStallMs = Math.max(window.__maxStallMs, now - last);
      last = now;
    }, 50);
  });
  const t0 = Date.now();
  const error = await runAndWait(page);
  check(`${name}: the run finishes without an error`, error === null, error ?? '');
  if (error) return;
  console.log(`     (${((Date.now() - t0) / 1000).toFixed(1)} s in the page)`);
  await page.screenshot({ path: join(artifacts, `${shot}-results.png`), fullPage: true });

  const shown = JSON.parse(await page.textContent('#results-json'));
  const last = await page.evaluate(() => window.__embevalLast);
  check(`${name}: window.__embevalLast is the shown results.json`, diff(last, shown).length === 0);
  if (search === 'gpu') {
    // The page's adapter (SwiftShader here) and the CLI's (lavapipe) differ by name: check the
    // page's path, then compare everything else.
    const paths = shown.models.filter((m) => m.spec.kind === 'emb').map((m) => m.search.path);
    check(`${name}: the page searched on WebGPU (${paths.join('; ')})`, paths.length > 0 && paths.every((p) => p.startsWith('gpu: ')));
    for (const r of [shown, ref.results]) r.models.forEach((m) => { if (m.spec.kind === 'emb') delete m.search; });
  }
  const metricDiffs = ref.results.models.flatMap((m, i) => diff(shown.models[i]?.metrics ?? {}, m.metrics, `models[${i}].metrics`));
  const count = ref.results.models.reduce((n, m) => n + Object.keys(m.metrics).length, 0);
  check(`${name}: all ${count} metric means equal the CLI's to ${TOLERANCE}`, metricDiffs.length === 0, metricDiffs.slice(0, 5).join('; '));
  const allDiffs = diffResults(shown, ref.results);
  check(`${name}: results.json equals the CLI's (timings aside)`, allDiffs.length === 0, allDiffs.slice(0, 5).join('; '));

  const table = await shownTable(page);
  // The time column differs by nature; the page adds a search column (and, with two or more
  // models, the significance columns) after it.
  const cliRows = ref.table.map((r) => r.slice(0, -1));
  const pageRows = table.map((r) => r.slice(0, cliRows[0].length));
  check(`${name}: the table shows the CLI's Markdown table`, JSON.stringify(pageRows) === JSON.stringify(cliRows),
    `page ${JSON.stringify(pageRows)}\n     cli  ${JSON.stringify(cliRows)}`);

  const json = await download(page, 'results.json');
  check(`${name}: the downloaded results.json is the shown one`, json === await page.textContent('#results-json'));
  const perQuery = await download(page, 'per_query.jsonl');
  const lines = (s) => s.trim().split('\n').map((l) => JSON.parse(l));
  const [got, want] = [lines(perQuery), lines(ref.perQuery)];
  const [topDiffs, lastBits] = compareTops(got, want, ref.results.models);
  if (lastBits) console.log(`     (${lastBits} embedding scores differ from native in the last bits)`);
  const pqDiffs = [...topDiffs, ...diff(got, want)];
  check(`${name}: per_query.jsonl equals the CLI's (rankings, scores, per-query metrics)`, pqDiffs.length === 0, pqDiffs.slice(0, 5).join('; '));
  const csv = await download(page, 'results.csv');
  check(`${name}: results.csv has one row per model`, csv.trim().split('\n').length === models.length + 1, csv);
  const runNames = await page.$$eval('#run-buttons button', (bs) => bs.map((b) => b.textContent));
  check(`${name}: the page offers the CLI's run files (${Object.keys(ref.runs).join(', ')})`,
    JSON.stringify([...runNames].sort()) === JSON.stringify(Object.keys(ref.runs).sort()) && (await page.isHidden('#run-downloads')) === !saveRuns,
    `page ${JSON.stringify(runNames)}`);
  for (const file of runNames) {
    const [dl] = await Promise.all([page.waitForEvent('download'), page.click(`#run-buttons button[data-run="runs/${file}"]`)]);
    const path = join(artifacts, `download-${shot}-${file}`);
    await dl.saveAs(path);
    check(`${name}: the downloaded ${file} is the CLI's byte for byte`, dl.suggestedFilename() === file && readFileSync(path, 'utf8') === ref.runs[file],
      dl.suggestedFilename());
  }
  if (viewChecks) await checkViews(page, { name, shot, shown, ref, table, queryTexts: viewChecks.queryTexts });
  return { shown, statuses: await page.evaluate(() => window.__statuses), maxStallMs: await page.evaluate(() => window.__maxStallMs) };
}

/** The results views (www/views.js) against the data they show: sorting, the per-query
 *  explorer against the CLI's per_query.jsonl, model vs model against counts made here, the
 *  results-only share (no text; its report.html renders offline without a request), "Open
 *  results", and screenshots of every view at desktop and phone width, light and dark. */
async function checkViews(page, { name, shot, shown, ref, table, queryTexts }) {
  // The README's pictures (docs/page-*.png are these files): the comparison and the curves as a
  // run leaves them, wide enough for every column.
  const size = page.viewportSize();
  await page.setViewportSize({ width: 1700, height: 900 });
  for (const view of ['comparison', 'curves']) {
    // The section and its table, which spills into the window's margins (style.css).
    const clip = await page.evaluate((view) => {
      const boxes = [...document.querySelectorAll(`#views > .view-${view}, #views > .view-${view} .scroll`)].map((e) => e.getBoundingClientRect());
      const [x, y] = [Math.min(...boxes.map((b) => b.left)), Math.min(...boxes.map((b) => b.top)) + window.scrollY];
      return { x, y, width: Math.max(...boxes.map((b) => b.right)) - x, height: Math.max(...boxes.map((b) => b.bottom)) + window.scrollY - y };
    }, view);
    await page.screenshot({ path: join(artifacts, `${shot}-docs-page-${view}.png`), clip, fullPage: true });
  }
  await page.setViewportSize(size);
  const byName = new Map(shown.models.map((m) => [m.name, m]));
  const sorted = (models, key, dir) => models.length === shown.models.length &&
    models.every((m, i) => i === 0 || dir * (byName.get(m).metrics[key] - byName.get(models[i - 1]).metrics[key]) >= 0);
  const tableState = (label) => page.evaluate((label) => ({
    models: [...document.querySelectorAll('#table tbody tr')].map((tr) => tr.dataset.model),
    sort: [...document.querySelectorAll('#table thead th')].find((th) => th.textContent === label)?.getAttribute('aria-sort'),
  }), label);
  const [label, key] = table[0].includes('MRR@10') ? ['MRR@10', 'mrr@10'] : ['Recall@100', 'recall@100'];
  const header = page.locator('#table thead button', { hasText: new RegExp(`^${label}$`) });
  await header.click();
  let state = await tableState(label);
  check(`${name}: clicking ${label} sorts the table by ${key}, highest first`, state.sort === 'descending' && sorted(state.models, key, -1), JSON.stringify(state));
  await header.focus();
  await page.keyboard.press('Enter');
  state = await tableState(label);
  check(`${name}: Enter on ${label} sorts it lowest first`, state.sort === 'ascending' && sorted(state.models, key, 1), JSON.stringify(state));

  // The explorer: each model's top 10 for a few queries equal the CLI's per_query.jsonl.
  const lines = ref.perQuery.trim().split('\n').map((l) => JSON.parse(l));
  const qids = [...new Set(lines.map((l) => l.query_id))];
  const qrels = shown.details.qrels;
  const explorerDiffs = [];
  for (const qid of [qids[0], qids[Math.floor(qids.length / 2)], qids.at(-1)]) {
    await page.selectOption('.view-explorer select.query-select', qid);
    const got = await page.evaluate(() => ({
      title: document.querySelector('.view-explorer .query-title').textContent,
      tops: Object.fromEntries([...document.querySelectorAll('.view-explorer table.top')].map((t) => [t.dataset.model,
        [...t.tBodies[0].rows].map((r) => [r.cells[1].textContent, Number(r.cells[2].textContent), r.classList.contains('relevant')])])),
    }));
    const text = shown.details.texts?.queries?.[qid];
    if (!got.title.startsWith(qid) || (text && !got.title.includes(text))) explorerDiffs.push(`${qid}: title ${got.title}`);
    for (const m of shown.models) {
      const want = lines.find((l) => l.model === m.name && l.query_id === qid).top.slice(0, 10)
        .map(([d, s]) => [d, s, (qrels[qid]?.[d] ?? 0) > 0]);
      const rows = got.tops[m.name] ?? [];
      const same = rows.length === want.length && rows.every(([d, s, rel], i) => d === want[i][0] && Math.abs(s - want[i][1]) <= 6e-5 && rel === want[i][2]);
      if (!same) explorerDiffs.push(`${qid} ${m.name}: ${JSON.stringify(rows.slice(0, 3))} vs ${JSON.stringify(want.slice(0, 3))}`);
    }
  }
  check(`${name}: the explorer shows each model's top 10 of per_query.jsonl, relevant documents marked`, explorerDiffs.length === 0, explorerDiffs.slice(0, 3).join('; '));

  // Model vs model: wins / losses / ties counted here from the details.
  if (shown.models.length >= 2) {
    const [A, B] = [shown.models[1].name, shown.models[0].name];
    const metric = 'recall@10';
    const selects = page.locator('.view-versus select');
    await selects.nth(0).selectOption(A);
    await selects.nth(1).selectOption(B);
    await selects.nth(2).selectOption(metric);
    const rows = (m) => new Map(shown.details.per_query[m].map((q) => [q.query_id, q.metrics[metric]]));
    const [a, b] = [rows(A), rows(B)];
    const want = [0, 0, 0];
    for (const [q, x] of a) {
      if (!b.has(q)) continue;
      const y = b.get(q);
      want[Math.abs(x - y) <= 1e-12 ? 2 : x > y ? 0 : 1]++;
    }
    const got = await page.$eval('.view-versus .wlt', (p) => ['wins', 'losses', 'ties'].map((c) => Number(p.querySelector(`.${c}`).textContent)));
    check(`${name}: model vs model counts ${A} vs ${B} on ${metric}: ${want.join(' / ')} wins / losses / ties`, JSON.stringify(got) === JSON.stringify(want), JSON.stringify(got));
    const points = await page.$$eval('.view-versus circle.pt', (cs) => cs.map((c) => c.dataset.queries.split(' ')));
    check(`${name}: the scatter plot has every paired query once`, points.flat().length === want[0] + want[1] + want[2]);
    // Keyboard: Tab lands on one point, arrows move, Enter opens that query in the explorer.
    await page.focus('.view-versus circle.pt[tabindex="0"]');
    await page.keyboard.press('ArrowRight');
    await page.keyboard.press('Enter');
    const opened = await page.inputValue('.view-explorer select.query-select');
    check(`${name}: a scatter point opens its query in the explorer from the keyboard`, points.length > 1 && opened === points[1][0], `${opened} vs ${points[1]?.[0]}`);
  }
  // Failures: each model's list, as results.json has it.
  const listed = await page.$$eval('.view-failures details.failures', (ds) => Object.fromEntries(ds.map((d) =>
    [d.dataset.model, [...d.querySelectorAll('.failure-list > li .failure-head code')].map((c) => c.textContent)])));
  const wantFailures = Object.fromEntries(shown.models.map((m) => [m.name, (m.failures ?? []).map((f) => f.query_id)]));
  check(`${name}: the failures view lists each model's failures`, shown.models.some((m) => m.failures?.length) &&
    JSON.stringify(listed, Object.keys(wantFailures).sort()) === JSON.stringify(wantFailures, Object.keys(wantFailures).sort()), JSON.stringify(listed));
  await shootViews(page, '#views', `${shot}-view`);

  // The results-only share: no query or document text, in results.json or report.html.
  const share = await download(page, 'results.json', { texts: false });
  const shareHtml = await download(page, 'report.html', { texts: false });
  const fullHtml = await download(page, 'report.html');
  const texts = [...(queryTexts ?? Object.values(shown.details.texts.queries).slice(0, 5)),
    ...Object.values(shown.details.texts.docs).slice(0, 5).map((d) => d.slice(0, 30))];
  // As written inside JSON: quotes and backslashes escaped.
  const has = (file, t) => file.includes(t) || file.includes(JSON.stringify(t).slice(1, -1));
  const leaks = texts.filter((t) => has(share, t) || has(shareHtml, t));
  check(`${name}: the results-only share (texts unchecked) has none of ${texts.length} query and document texts`,
    JSON.parse(share).results_only === true && leaks.length === 0 && texts.every((t) => has(fullHtml, t)), leaks.slice(0, 3).join(' | '));

  // report.html as a file: the views render, with no request and no policy violation.
  const report = await openReport(page, join(artifacts, 'download-share-report.html'), `${shot}-report`);
  check(`${name}: the shared report.html renders the comparison table offline (${report.requests.length} requests, ${report.violations.length} CSP violations)`,
    report.requests.length === 0 && report.violations.length === 0 && report.errors.length === 0 && JSON.stringify(report.table) === JSON.stringify(table),
    `${report.requests.join(', ')} ${report.violations.join(', ')} ${report.errors.join(', ')}`);
  check(`${name}: the shared report.html says its texts were not included`, /not included/.test(report.explorerNote));
  writeFileSync(join(artifacts, `${shot}-cli-report.html`), ref.report);
  const cli = await openReport(page, join(artifacts, `${shot}-cli-report.html`));
  const metricCells = (t) => t.map((r) => r.slice(0, ref.table[0].length - 1));
  check(`${name}: the CLI's report.html shows the same table, offline`,
    cli.requests.length === 0 && cli.errors.length === 0 && JSON.stringify(metricCells(cli.table)) === JSON.stringify(metricCells(table)),
    `${JSON.stringify(cli.table[1])} ${cli.errors.join(', ')}`);

  // "Open results": the downloaded share.json, then the shared report.html, show the same table.
  for (const file of ['download-share-results.json', 'download-share-report.html']) {
    await page.setInputFiles('#open-results', join(artifacts, file));
    await page.waitForFunction((f) => document.getElementById('status').textContent === `opened ${f}`, file);
    const again = await shownTable(page);
    check(`${name}: Open results with ${file} shows the same table`, JSON.stringify(again) === JSON.stringify(table) &&
      await page.isHidden('#downloads') && !(await page.isHidden('#results-source')), JSON.stringify(again[1]));
  }
}

/** Opens a report.html from disk in a fresh context; its table, requests, violations, errors. */
async function openReport(page, path, shot) {
  const context = await page.context().browser().newContext({ viewport: { width: 1100, height: 900 }, locale: 'ja-JP' });
  const url = pathToFileURL(path).href;
  const requests = [];
  const errors = [];
  context.on('request', (r) => { if (r.url() !== url) requests.push(r.url()); });
  await context.addInitScript(() => {
    window.__violations = [];
    document.addEventListener('securitypolicyviolation', (e) => window.__violations.push(`${e.violatedDirective} ${e.blockedURI}`));
  });
  const p = await context.newPage();
  p.on('pageerror', (e) => errors.push(e.message));
  p.on('console', (m) => { if (m.type() === 'error') errors.push(m.text()); });
  try {
    await p.goto(url);
    await p.waitForSelector('#report table.comparison', { timeout: 10_000 });
    if (shot) await shootViews(p, '#report', shot);
    return {
      requests, errors,
      violations: await p.evaluate(() => window.__violations),
      table: await shownTable(p, '#report table.comparison'),
      explorerNote: await p.evaluate(() => document.querySelector('#report .view-explorer .omitted')?.textContent ?? ''),
    };
  } catch (e) {
    return { requests, errors: [...errors, e.message], violations: [], table: [], explorerNote: '' };
  } finally {
    await context.close();
  }
}

/** Screenshots of each view under `root` at 1100 and 390 px, light and dark; at 390 px nothing
 *  in the views may reach past the screen's edge (wide tables scroll in their own box). */
async function shootViews(page, root, prefix) {
  const size = page.viewportSize();
  const overflow = [];
  for (const width of [1100, 390]) {
    await page.setViewportSize({ width, height: 900 });
    for (const colorScheme of ['light', 'dark']) {
      await page.emulateMedia({ colorScheme });
      const views = await page.$$eval(`${root} > *`, (els) => els.map((e) => [...e.classList].find((c) => c.startsWith('view-'))));
      for (const [i, view] of views.entries()) {
        if (view) await page.locator(`${root} > *`).nth(i).screenshot({ path: join(artifacts, `${prefix}-${view.slice(5)}-${width}-${colorScheme}.png`) });
      }
      const wide = await page.evaluate((root) => [...document.querySelectorAll(`${root} *`)].filter((e) => {
        if (e.getBoundingClientRect().right <= window.innerWidth + 0.5) return false;
        for (let p = e.parentElement; p; p = p.parentElement) if (getComputedStyle(p).overflowX !== 'visible') return false;
        return true;
      }).slice(0, 3).map((e) => `${e.tagName.toLowerCase()}.${e.className.baseVal ?? e.className} ends at ${Math.round(e.getBoundingClientRect().right)} px`), root);
      if (wide.length) overflow.push(`${width} px ${colorScheme}: ${wide.join(', ')}`);
    }
  }
  await page.emulateMedia({ colorScheme: null });
  await page.setViewportSize(size);
  check(`${prefix}: the views fit a 390 px wide screen without sideways scrolling`, overflow.length === 0, overflow.join('; '));
}

/** Lone files with names the library does not know: the page's logical names and model lines,
 *  then the run's metrics against the CLI's. */
async function sniffedScenario(page, { name, files, folder, names, lines, cliArgs, format }) {
  await page.goto(page.baseUrl);
  await page.setInputFiles(folder ? '#folder' : '#files', folder ?? files);
  await page.waitForFunction((n) => document.querySelectorAll('#chosen tbody tr').length === n, names.length, { timeout: 20_000 }).catch(() => {});
  const got = await page.$$eval('#chosen tbody th', (ths) => ths.map((th) => th.textContent));
  check(`${name}: named as the CLI reads them (${names.join(', ')})`, JSON.stringify(got) === JSON.stringify(names), got.join(', '));
  const modelLines = (await page.inputValue('#models')).split('\n').filter(Boolean);
  check(`${name}: model lines ${lines.join(', ')}`, JSON.stringify(modelLines) === JSON.stringify(lines), modelLines.join(', '));
  const error = await runAndWait(page);
  check(`${name}: the run finishes without an error`, error === null, error ?? '');
  if (error) return;
  const shown = JSON.parse(await page.textContent('#results-json'));
  const ref = native([...cliArgs, '--k', '1,3,5,10,100'], root);
  if (format) check(`${name}: read as ${format}`, shown.dataset.format === format && ref.results.dataset.format === format, shown.dataset.format);
  const diffs = ref.results.models.flatMap((m, i) => diff(shown.models[i]?.metrics ?? {}, m.metrics, `${m.name}`));
  check(`${name}: every metric equals the CLI's (${ref.results.models.map((m) => m.name).join(', ')})`,
    shown.models.map((m) => m.name).join() === ref.results.models.map((m) => m.name).join() && diffs.length === 0, diffs.slice(0, 3).join('; '));
}

/** Neural models in the page: bundled MiniLM on demo/ against the CLI, Cache Storage on the
 *  second load, a chosen model folder, and the worker's vectors against native and ST. */
async function neural(page, served) {
  const manifest = JSON.parse(readFileSync(join(www, 'models/index.json'), 'utf8'));
  const minilm = manifest.models.find((m) => m.name === 'all-MiniLM-L6-v2');
  if (!minilm) {
    check('scripts/build-web.sh bundled all-MiniLM-L6-v2 (www/models/index.json)', false, 'run scripts/fetch-models.sh, then scripts/build-web.sh');
    return;
  }
  const demo = join(root, 'demo');
  const modelFiles = (from) => served.slice(from).filter((p) => p.startsWith('/models/all-MiniLM-L6-v2/'));

  // (b) BM25 + the bundled model on the demo set equal the CLI's results.json; the first load downloads.
  let from = served.length;
  const first = await scenario(page, {
    name: 'demo folder, bm25 + bundled all-MiniLM-L6-v2, trec',
    shot: '06-minilm',
    choose: async (p) => {
      await p.setInputFiles('#folder', demo);
      await p.click('button[data-model="all-MiniLM-L6-v2"]');
      check('the bundled model\'s button adds its model line', (await p.inputValue('#models')).split('\n').includes('all-MiniLM-L6-v2'));
    },
    convention: 'trec',
    k: '1,3,5,10,100',
    models: ['bm25', 'all-MiniLM-L6-v2'],
    cliArgs: ['--data', demo, '--no-cache'],
    cwd: join(www, 'models'),
    // The demo's Japanese questions must stay out of a share.
    views: { queryTexts: readFileSync(join(demo, 'queries.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l).text).filter((t) => /[\u3040-\u30ff]/.test(t)).slice(0, 6) },
  });
  if (!first) return;
  const downloaded = modelFiles(from);
  check('the first load downloads every file of the bundled model', minilm.files.every((f) => downloaded.includes(`/models/all-MiniLM-L6-v2/${f.path}`)), downloaded.join(', '));
  const shows = (re) => first.statuses.some((t) => re.test(t));
  check('the page shows download, loading and encoding progress',
    shows(/all-MiniLM-L6-v2: download model: [\d.]+ \/ [\d.]+ MB/) && shows(/all-MiniLM-L6-v2: load model/) &&
    shows(/all-MiniLM-L6-v2: encode queries: \d+ \/ 38/) && shows(/all-MiniLM-L6-v2: encode documents: \d+ \/ 50/),
    first.statuses.filter((t, i, a) => a.indexOf(t) === i).slice(0, 12).join(' | '));

  check(`the page's thread never stalled (longest gap between 50 ms timers ${first.maxStallMs.toFixed(0)} ms < 1000 ms)`, first.maxStallMs < 1000);

  // (c) A second evaluation (page reloaded) takes the model from Cache Storage: no request for its files.
  from = served.length;
  await page.goto(page.baseUrl);
  await page.setInputFiles('#folder', demo);
  await page.fill('#models', 'all-MiniLM-L6-v2');
  const finished = runAndWait(page);
  await page.waitForFunction(() => /encode documents: \d+ \/ 50/.test(document.getElementById('status').textContent), null, { timeout: 120_000 })
    .then(() => page.screenshot({ path: join(artifacts, '08-encoding-progress.png') }), () => {});
  const error = await finished;
  const again = modelFiles(from);
  check('the second load makes no request for the bundled model\'s files (Cache Storage)', error === null && again.length === 0, error ?? again.join(', '));
  const second = JSON.parse(await page.textContent('#results-json'));
  const metricsDiff = diff(second.models[0].metrics, first.shown.models.find((m) => m.name === 'all-MiniLM-L6-v2').metrics);
  check('the cached model gives the same metrics', metricsDiff.length === 0, metricsDiff.slice(0, 3).join('; '));
  check('the page lists its Cache Storage copy', await page.evaluate(async () =>
    (await (await caches.open('embeval-models')).keys()).some((r) => r.url.includes('/models/all-MiniLM-L6-v2/model.safetensors?rev='))));

  // A chosen model folder, labelled, with prompts typed in: results.json equals the CLI's with
  // --query-prompt / --doc-prompt, and nothing is fetched.
  await page.goto(page.baseUrl);
  await page.setInputFiles('#folder', demo);
  await page.setInputFiles('#model-folder', join(www, 'models/all-MiniLM-L6-v2'));
  const line = await page.inputValue('#models');
  check('choosing a model folder adds its model line', line.split('\n').includes('all-MiniLM-L6-v2'), line);
  await page.fill('#models', 'picked=all-MiniLM-L6-v2');
  // The query prompt in the model's own row (as --query-prompt picked=...), the document
  // prompt for every model.
  await page.fill('#model-prompts input[aria-label="query prompt for picked"]', 'query: ');
  await page.fill('#doc-prompt', 'passage: ');
  from = served.length;
  await page.screenshot({ path: join(artifacts, '07-model-folder.png'), fullPage: true });
  const e2 = await runAndWait(page);
  const picked = JSON.parse(await page.textContent('#results-json'));
  const cli = native(['--data', demo, '--no-cache', '--k', '1,3,5,10,100', '--model', 'picked=all-MiniLM-L6-v2',
    '--query-prompt', 'picked=query: ', '--doc-prompt', 'passage: '], join(www, 'models'));
  const pickedDiffs = diffResults(picked, cli.results);
  check('a chosen model folder with prompts (one per model, one for all): results.json equals the CLI\'s with --query-prompt/--doc-prompt, fetching nothing',
    e2 === null && modelFiles(from).length === 0 && pickedDiffs.length === 0 && picked.models[0].search.encoder.prompts.source === 'flag',
    `${e2 ?? ''} ${pickedDiffs.slice(0, 3).join('; ')}`);
  check('the prompts change the results (they reached the encoder)', diff(picked.models[0].metrics, second.models[0].metrics).length > 0);

  // Real all-mpnet-base-v2 (MPNet, 438 MB of weights) chosen from disk: the page's results.json
  // equals the CLI's, as for MiniLM (its vectors are checked against sentence-transformers
  // natively in tests/st_models.rs).
  const mpnet = join(root, 'models/all-mpnet-base-v2');
  if (existsSync(join(mpnet, 'model.safetensors'))) {
    await page.goto(page.baseUrl);
    await page.setInputFiles('#folder', demo);
    await page.setInputFiles('#model-folder', mpnet);
    await page.fill('#models', 'all-mpnet-base-v2');
    await page.evaluate(() => {
      const s = document.getElementById('status');
      window.__statuses = [];
      new MutationObserver(() => window.__statuses.push(s.textContent)).observe(s, { childList: true, characterData: true, subtree: true });
    });
    const t0 = Date.now();
    const e3 = await runAndWait(page);
    const etas = (await page.evaluate(() => window.__statuses)).filter((t) => /, about \d+ (s|min) left in this step$/.test(t));
    check('a long step shows the time left', etas.some((t) => t.startsWith('all-mpnet-base-v2: encode documents: ')), etas.slice(0, 3).join(' | '));
    const inPage = e3 === null ? JSON.parse(await page.textContent('#results-json')) : null;
    console.log(`     (all-mpnet-base-v2 on demo: ${((Date.now() - t0) / 1000).toFixed(1)} s in the page)`);
    await page.screenshot({ path: join(artifacts, '09-mpnet-results.png'), fullPage: true });
    const ref = native(['--data', demo, '--no-cache', '--k', '1,3,5,10,100', '--model', 'all-mpnet-base-v2'], join(root, 'models'));
    const mpnetDiffs = inPage ? diffResults(inPage, ref.results) : ['no results'];
    check('all-mpnet-base-v2 chosen from disk: results.json equals the CLI\'s',
      e3 === null && mpnetDiffs.length === 0 && inPage.models[0].search.encoder.architecture === 'mpnet',
      `${e3 ?? ''} ${mpnetDiffs.slice(0, 3).join('; ')}`);
  } else {
    check('models/all-mpnet-base-v2 is there', false, 'run scripts/fetch-models.sh');
  }

  // A sharded checkpoint (the tiny Qwen3 of tests/fixtures/tiny_models in three files with
  // model.safetensors.index.json, as Qwen3-Embedding-4B/8B ship) chosen from disk: every shard
  // reaches the worker, and results.json equals the CLI's on the same folder.
  const shardedParent = mkdtempSync(join(tmpdir(), 'embeval-e2e-sharded-'));
  try {
    const tiny = join(root, 'tests/fixtures/tiny_models');
    const sharded = join(shardedParent, 'qwen3-sharded');
    cpSync(join(tiny, 'qwen3-embedding'), sharded, { recursive: true, filter: (p) => !p.endsWith('model.safetensors') });
    cpSync(join(tiny, 'qwen3-embedding-sharded'), sharded, { recursive: true });
    await page.goto(page.baseUrl);
    await page.setInputFiles('#folder', demo);
    await page.setInputFiles('#model-folder', sharded);
    const listed = await page.textContent('#model-folders');
    await page.fill('#models', 'qwen3-sharded');
    await page.screenshot({ path: join(artifacts, '10-sharded-model-folder.png'), fullPage: true });
    const e4 = await runAndWait(page);
    const inPage = e4 === null ? JSON.parse(await page.textContent('#results-json')) : null;
    const ref = native(['--data', demo, '--no-cache', '--k', '1,3,5,10,100', '--model', 'qwen3-sharded'], shardedParent);
    const shardedDiffs = inPage ? diffResults(inPage, ref.results) : ['no results'];
    check('a sharded checkpoint chosen from disk: all its files listed, results.json equals the CLI\'s',
      e4 === null && !listed.includes('missing') && listed.includes('qwen3-sharded') && shardedDiffs.length === 0 &&
        inPage.models[0].search.encoder.architecture === 'qwen3',
      `${e4 ?? ''} ${listed.replace(/\s+/g, ' ')} ${shardedDiffs.slice(0, 3).join('; ')}`);
  } finally {
    rmSync(shardedParent, { recursive: true, force: true });
  }

  // Cancel after the first model: its results stay, marked as what was done before the cancel;
  // while the run went on its settings could not be changed, and afterwards they can.
  {
    await page.goto(page.baseUrl);
    await page.setInputFiles('#folder', join(data, 'xquad-en'));
    await page.fill('#models', 'bm25\nall-MiniLM-L6-v2');
    await page.click('#run');
    await page.waitForSelector('#results:not([hidden])', { timeout: 120_000 });
    const locked = await page.isDisabled('#models') && await page.isDisabled('#k');
    await page.click('#cancel');
    const said = await page.textContent('#status');
    const source = await page.textContent('#results-source');
    await page.screenshot({ path: join(artifacts, '11-cancelled.png'), fullPage: true });
    check('a cancel keeps the first model\'s results, says so, and frees the settings',
      locked && said === 'cancelled: the results shown are the model done before' && source.startsWith('Cancelled: one model done') &&
        !(await page.isDisabled('#models')) && (await page.$$('#table tbody tr')).length === 1,
      `${locked} ${said} | ${source}`);
  }

  // (a) The worker's vectors for the fixture texts: native build and sentence-transformers.
  const fixture = join(root, 'tests/fixtures/st_embeddings');
  const texts = readFileSync(join(fixture, 'texts.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l).text);
  const st = readNpy(join(fixture, 'all-MiniLM-L6-v2.npy'));
  from = served.length;
  const got = await inWorker(page, { type: 'embed', files: {}, bundled: [minilm], dir: 'all-MiniLM-L6-v2', texts, options: { batch_size: 32 } });
  check('the worker reports encoding progress', got.steps.some(([s, d, t]) => s === 'all-MiniLM-L6-v2: encode' && d === texts.length && t === texts.length));
  const ref = nativeVectors(join(www, 'models/all-MiniLM-L6-v2'), texts, got.dim);
  const vsNative = compareVectors(got.vectors, ref, got.dim);
  const vsSt = compareVectors(got.vectors, st.data, st.dim);
  const nativeVsSt = compareVectors(ref, st.data, st.dim);
  console.log(`     (${texts.length} texts: wasm vs native max|diff| ${vsNative.maxDiff.toExponential(2)}, worst cosine ${vsNative.minCos.toFixed(9)}; ` +
    `wasm vs sentence-transformers ${vsSt.maxDiff.toExponential(2)}; native vs sentence-transformers ${nativeVsSt.maxDiff.toExponential(2)})`);
  check(`wasm vectors equal the native build's for ${texts.length} fixture texts (max |diff| ≤ ${VECTOR_TOLERANCE})`,
    got.dim === st.dim && got.vectors.length === texts.length * st.dim && vsNative.maxDiff <= VECTOR_TOLERANCE, JSON.stringify(vsNative));
  check(`wasm vectors equal sentence-transformers' (max |diff| ≤ ${ST_TOLERANCE})`, vsSt.maxDiff <= ST_TOLERANCE && vsSt.minCos >= 0.99999, JSON.stringify(vsSt));
}

async function main() {
  mkdirSync(artifacts, { recursive: true });
  if (!existsSync(join(www, 'pkg', 'embeval_bg.wasm'))) throw new Error('www/pkg is not built: run scripts/build-web.sh');
  if (!existsSync(bin)) throw new Error(`no native CLI at ${bin}: cargo build --release --no-default-features --features cli, or set EMBEVAL_BIN`);

  const { server, served, missing, port } = await serve();
  const browser = await launchChromium(chromium);
  const requests = [];
  const problems = [];
  try {
    const context = await browser.newContext({ acceptDownloads: true, viewport: { width: 1100, height: 900 }, locale: 'ja-JP' });
    context.on('request', (r) => requests.push(r.url()));
    const page = await context.newPage();
    page.baseUrl = `http://127.0.0.1:${port}/`;
    page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
    page.on('console', (m) => { if (m.type() === 'error') problems.push(`console error: ${m.text()}`); });
    page.on('worker', (w) => w.on('console', (m) => { if (m.type() === 'error') problems.push(`worker console error: ${m.text()}`); }));

    await page.goto(page.baseUrl);
    await page.screenshot({ path: join(artifacts, '01-start.png'), fullPage: true });
    check('the page has a labelled control for every input', await page.evaluate(() =>
      [...document.querySelectorAll('input, select, textarea')].every((el) => el.labels?.length > 0)));
    // Kanji alone are marked Japanese for a reader whose browser prefers Japanese (this context),
    // not for one that prefers Chinese; kana always.
    const langOf = (p) => p.evaluate(async () => {
      const { setLang } = await import('./views.js');
      return ['梅雨', 'コーパス', 'doc1'].map((text) => {
        const e = document.createElement('span');
        setLang(e, text);
        return e.lang;
      });
    });
    const zhContext = await browser.newContext({ locale: 'zh-CN' });
    const zhPage = await zhContext.newPage();
    await zhPage.goto(page.baseUrl);
    const [ja, zh] = [await langOf(page), await langOf(zhPage)];
    await zhContext.close();
    check('kanji-only text is marked Japanese for Japanese readers only', JSON.stringify(ja) === '["ja","ja",""]' && JSON.stringify(zh) === '["","ja",""]',
      `${JSON.stringify(ja)} ${JSON.stringify(zh)}`);

    // 1. A BEIR folder through the folder picker, the CLI's defaults.
    const xquad = join(data, 'xquad-en');
    await scenario(page, {
      name: 'xquad-en folder, bm25, trec',
      shot: '02-xquad',
      choose: async (p) => {
        await p.setInputFiles('#folder', xquad);
        const names = await p.$$eval('#chosen tbody th', (ths) => ths.map((th) => th.textContent));
        check('the folder maps to BEIR logical names', ['corpus.jsonl', 'qrels/test.tsv', 'queries.jsonl'].every((n) => names.includes(n)), names.join(', '));
        const skipped = await p.textContent('#skipped');
        check('a folder\'s licence is named as not read, not listed to evaluate',
          !names.some((n) => n.startsWith('LICENSE')) && skipped.includes('LICENSE.CC-BY-SA-4.0.txt'), `${names.join(', ')} | ${skipped}`);
        await p.waitForSelector('#validation:not([hidden])', { timeout: 30_000 }).catch(() => {});
        const summary = await p.textContent('#validation-summary');
        check('choosing the folder shows the dataset check before any run', summary.startsWith('dataset (beir)'), summary.slice(0, 80));
      },
      convention: 'trec',
      k: '1,3,5,10,100',
      models: ['bm25'],
      cliArgs: ['--data', xquad],
    });

    // 2. Japanese: files chosen one by one (test.tsv → qrels/test.tsv), the st convention,
    //    two models, one with a Japanese label.
    const jsquad = join(data, 'jsquad-valid');
    if (existsSync(jsquad)) {
      await scenario(page, {
        name: 'jsquad-valid files, two bm25s, st',
        shot: '03-jsquad',
        choose: (p) => p.setInputFiles('#files', ['corpus.jsonl', 'queries.jsonl', 'qrels/test.tsv'].map((f) => join(jsquad, f))),
        convention: 'st',
        k: '1,5,10,100',
        models: ['bm25', 'ベースライン=bm25:k1=1.2,b=0.75'],
        cliArgs: ['--data', jsquad],
        saveRuns: true,
        views: {},
      });
    } else {
      console.log(`skip jsquad-valid: ${jsquad} not found`);
    }

    // 2b. A sentence-transformers folder (queries.json, corpus.json, relevant_docs.json: the
    //     dicts InformationRetrievalEvaluator takes), written from xquad-en.
    const stDir = mkdtempSync(join(tmpdir(), 'embeval-e2e-st-'));
    const lines = (f) => readFileSync(join(xquad, f), 'utf8').trim().split('\n');
    const stCorpus = Object.fromEntries(lines('corpus.jsonl').map((l) => JSON.parse(l)).map((d) => [d._id, `${d.title ?? ''} ${d.text}`.trim()]));
    const stQueries = Object.fromEntries(lines('queries.jsonl').map((l) => JSON.parse(l)).map((q) => [q._id, q.text]));
    const stRelevant = {};
    for (const [q, d, rel] of lines('qrels/test.tsv').slice(1).map((l) => l.split('\t'))) if (Number(rel) >= 1) (stRelevant[q] ??= []).push(d);
    writeFileSync(join(stDir, 'corpus.json'), JSON.stringify(stCorpus));
    writeFileSync(join(stDir, 'queries.json'), JSON.stringify(stQueries));
    writeFileSync(join(stDir, 'relevant_docs.json'), JSON.stringify(stRelevant));
    await scenario(page, {
      name: 'a sentence-transformers folder, bm25, st',
      shot: '03b-st-folder',
      choose: (p) => p.setInputFiles('#folder', stDir),
      convention: 'st',
      // No 10 among the cut-offs: the table's columns and order are results.md's (nDCG and
      // Recall at each k, sorted by nDCG@5).
      k: '1,3,5',
      models: ['bm25', 'bm25:k1=0.5,b=0.3'],
      cliArgs: ['--data', stDir],
    });
    rmSync(stDir, { recursive: true, force: true });

    // 3. Precomputed embeddings chosen next to the folder (the CLI reads the same files).
    const embDir = mkdtempSync(join(tmpdir(), 'embeval-e2e-emb-'));
    const npys = makeEmbeddings(xquad, embDir);
    // 3b. The same with the search on WebGPU inside the page (Chromium's SwiftShader adapter
    //     here), against the CLI's GPU search (lavapipe).
    for (const [search, name, shot] of [[undefined, 'trec', '04-emb'], ['gpu', 'search on WebGPU', '04b-emb-webgpu']]) {
      await scenario(page, {
        name: `xquad-en + emb:q.npy,d.npy, ${name}`,
        shot,
        choose: async (p) => {
          await p.setInputFiles('#folder', xquad);
          await p.setInputFiles('#files', npys);
        },
        convention: 'trec',
        k: '1,3,5,10,100',
        models: ['bm25', 'emb:q.npy,d.npy'],
        cliArgs: ['--data', xquad, ...(search ? ['--search', search] : [])],
        cwd: embDir,
        search,
      });
    }
    rmSync(embDir, { recursive: true, force: true });

    // 3c. Files the library does not know by name, chosen alone: TREC qrels + runs (the real
    //     JQaRA runs, gzipped) and a QA log. The page looks into them, names them as the CLI's
    //     --qrels / --run / --data LOG --corpus do, and its metrics equal the CLI's.
    const jqara = join(data, 'jqara');
    if (existsSync(join(jqara, 'qrels.trec'))) {
      const runs = ['bm25.trec.gz', 'ruri-small.trec.gz'];
      await sniffedScenario(page, {
        name: 'TREC qrels + runs chosen as files',
        files: [join(jqara, 'qrels.trec'), ...runs.map((r) => join(jqara, 'runs', r))],
        names: ['bm25.trec.gz', 'qrels', 'ruri-small.trec.gz'],
        lines: runs.map((r) => `run:${r}`),
        cliArgs: ['--qrels', join(jqara, 'qrels.trec'), ...runs.flatMap((r) => ['--run', join(jqara, 'runs', r)])],
      });
      // The same as a folder (no dataset the library knows by name): looked into file by file.
      const all = ['bm25.trec.gz', 'multilingual-e5-small.trec.gz', 'ruri-small.trec.gz'];
      await sniffedScenario(page, {
        name: 'JQaRA\'s folder of TREC qrels + runs',
        folder: jqara,
        names: ['EXPECTED_METRICS.tsv', 'qrels', ...all.map((r) => `runs/${r}`)],
        lines: all.map((r) => `run:runs/${r}`),
        cliArgs: ['--qrels', join(jqara, 'qrels.trec'), ...all.flatMap((r) => ['--run', join(jqara, 'runs', r)])],
      });
      await page.setInputFiles('#folder', join(data, 'xquad-en'));
      await page.waitForSelector('#validation:not([hidden])', { timeout: 20_000 }).catch(() => {});
      check('another folder takes away the run lines the last one added, and bm25 comes back', (await page.inputValue('#models')) === 'bm25',
        await page.inputValue('#models'));
    }
    // A folder of TREC files with two qrels files: which to judge by is asked, not guessed.
    {
      await page.goto(page.baseUrl);
      await page.setInputFiles('#folder', join(data, 'trec-eval-test'));
      await page.waitForSelector('#error:not([hidden])', { timeout: 20_000 }).catch(() => {});
      const said = await page.textContent('#error');
      check('a folder with several qrels files asks which one', /holds \d+ TREC qrels files \(.*qrels\.test.*\): choose the one/.test(said), said);
    }
    const logDir = mkdtempSync(join(tmpdir(), 'embeval-e2e-qalog-'));
    writeFileSync(join(logDir, 'support-log.jsonl'), [
      { query_id: 'l1', query_text: '日本の首都はどこ', references: [{ doc_id: 'd1', relevance_score: 0.9 }] },
      { query_id: 'l2', query_text: 'cats on mats', references: [{ doc_id: 'd3', relevance_score: 0.8 }, { doc_id: 'd2', relevance_score: 0.2 }] },
      { query_id: 'l3', query_text: 'big park dogs', references: [{ doc_id: 'd4', relevance_score: 1.0 }] },
    ].map((o) => JSON.stringify(o)).join('\n') + '\n');
    writeFileSync(join(logDir, 'corpus.jsonl'), [
      ['d1', '東京は日本の首都です。'], ['d2', '京都は古い都です。'], ['d3', 'The cat sat on the mat.'], ['d4', 'Dogs chase cats in the big park.'],
    ].map(([id, text]) => JSON.stringify({ _id: id, text })).join('\n') + '\n');
    await sniffedScenario(page, {
      name: 'a QA log and its corpus chosen as files',
      files: [join(logDir, 'support-log.jsonl'), join(logDir, 'corpus.jsonl')],
      names: ['corpus.jsonl', 'qalog.jsonl'],
      lines: ['bm25'],
      cliArgs: ['--data', join(logDir, 'support-log.jsonl'), '--corpus', join(logDir, 'corpus.jsonl'), '--model', 'bm25'],
      format: 'qalog',
    });
    await sniffedScenario(page, {
      name: 'a folder of a QA log and its corpus',
      folder: logDir,
      names: ['corpus.jsonl', 'qalog.jsonl'],
      lines: ['bm25'],
      cliArgs: ['--data', join(logDir, 'support-log.jsonl'), '--corpus', join(logDir, 'corpus.jsonl'), '--model', 'bm25'],
      format: 'qalog',
    });
    rmSync(logDir, { recursive: true, force: true });

    // 4. Neural models.
    await neural(page, served);

    // 5. Errors are shown, never a silent hang.
    await page.goto(page.baseUrl);
    await page.setInputFiles('#files', join(xquad, 'queries.jsonl'));
    const err = await runAndWait(page);
    check('a dataset without a corpus shows what to add', err !== null && err.includes('BEIR folder'), String(err));

    // Three kinds of bad file: the message names the file, the line and the fix, as the CLI's.
    const bad = mkdtempSync(join(tmpdir(), 'embeval-e2e-bad-'));
    const good = {
      'corpus.jsonl': '{"_id": "d1", "text": "東京は日本の首都です。"}\n{"_id": "d2", "text": "京都"}\n',
      'queries.jsonl': '{"_id": "q1", "text": "日本の首都"}\n',
      'test.tsv': 'query-id\tcorpus-id\tscore\nq1\td1\t1\n',
    };
    const cases = [
      ['corpus.jsonl', '{"_id": "d1", "text": "東京"}\n{"_id": "d2", "text": "unterminated\n', 'corpus.jsonl:2: malformed JSON'],
      ['test.tsv', 'query-id\tcorpus-id\tscore\nq1\td1\t1\nq1\td2\thigh\n', "qrels/test.tsv:3: relevance 'high' is not an integer"],
      ['queries.jsonl', '{"_id": "q1", "text": "日本"}\n{"text": "no id"}\n', 'queries.jsonl:2: unexpected JSON content'],
    ];
    for (const [name, text, want] of cases) {
      const dir = mkdtempSync(join(bad, 'case-'));
      for (const [f, t] of Object.entries({ ...good, [name]: text })) writeFileSync(join(dir, f), t);
      await page.goto(page.baseUrl);
      await page.setInputFiles('#files', Object.keys(good).map((f) => join(dir, f)));
      await page.waitForSelector('#error:not([hidden])', { timeout: 30_000 }).catch(() => {});
      const early = await page.textContent('#error');
      check(`a bad ${name} is named as soon as it is chosen`, early.includes(want), early);
      const e = await runAndWait(page);
      check(`a bad ${name} is named with its line and the fix (${want})`, e !== null && e.includes(want) && e.includes('fix:'), String(e));
    }
    await page.screenshot({ path: join(artifacts, '05-bad-file.png'), fullPage: true });

    // Files chosen one by one add up, and the check says next to them what it found; judgments
    // none of whose documents is in the corpus are refused by the check, before any run; Clear
    // empties the choice.
    const one = mkdtempSync(join(bad, 'one-'));
    for (const [f, t] of Object.entries(good)) writeFileSync(join(one, f), t);
    await page.goto(page.baseUrl);
    for (const f of Object.keys(good)) await page.setInputFiles('#files', join(one, f));
    await page.waitForSelector('#validation:not([hidden])', { timeout: 30_000 }).catch(() => {});
    const picked = (await page.$$eval('#chosen tbody th', (ths) => ths.map((th) => th.textContent))).sort();
    check('files chosen one by one add up', JSON.stringify(picked) === JSON.stringify(['corpus.jsonl', 'qrels/test.tsv', 'queries.jsonl']), picked.join(', '));
    const line = await page.textContent('#check-line');
    check('the check says what it found beside the files', line.startsWith('Dataset checked: 1 query to evaluate, 2 documents: ready to run.'), line);
    writeFileSync(join(one, 'test.tsv'), 'query-id\tcorpus-id\tscore\nq1\td9\t1\n');
    await page.setInputFiles('#files', join(one, 'test.tsv'));
    await page.waitForSelector('#error:not([hidden])', { timeout: 30_000 }).catch(() => {});
    const refused = await page.textContent('#error');
    check('the check refuses judgments whose documents are all missing, before a run',
      refused.includes('none of its relevant documents is in the corpus') && (await page.textContent('#check-line')).startsWith('These files cannot be evaluated.'), refused);
    await page.screenshot({ path: join(artifacts, '05-check-refused.png'), fullPage: true });
    // The check follows the convention: a query judged only below relevance 1 is evaluated
    // under trec (it scores 0), not under st.
    writeFileSync(join(one, 'queries.jsonl'), '{"_id": "q1", "text": "日本の首都"}\n{"_id": "q2", "text": "京都"}\n');
    writeFileSync(join(one, 'test.tsv'), 'query-id\tcorpus-id\tscore\nq1\td1\t1\nq2\td2\t0\n');
    await page.setInputFiles('#files', ['queries.jsonl', 'test.tsv'].map((f) => join(one, f)));
    const lineSays = (n) => page.waitForFunction((n) => document.getElementById('check-line').textContent.startsWith(`Dataset checked: ${n} to evaluate`), n, { timeout: 20_000 })
      .then(() => true, () => false);
    const trecCount = await lineSays('2 queries');
    await page.check('input[name=convention][value=st]');
    const stCount = await lineSays('1 query');
    check('the check is made again for another convention', trecCount && stCount, await page.textContent('#check-line'));
    await page.click('#clear-files');
    check('Clear empties the choice', await page.isHidden('#chosen') && await page.isHidden('#error') && await page.isHidden('#check-line') &&
      await page.isHidden('#clear-line') && (await page.textContent('#status')) === '');
    rmSync(bad, { recursive: true, force: true });
    check('the error is announced (role=alert)', await page.getAttribute('#error', 'role') === 'alert');
    await page.screenshot({ path: join(artifacts, '05-error.png'), fullPage: true });
    await page.goto(page.baseUrl);
    await page.setInputFiles('#folder', xquad);
    await page.fill('#k', '1,ten');
    await page.click('#run');
    check('bad cut-offs are named', (await page.textContent('#error')).includes("'ten'"));
    await page.fill('#k', '0');
    const zero = (await runAndWait(page)) ?? '';
    check('an option the library names is said in the page\'s words', zero.includes('--k') && zero.includes('On this page: --k is “Cut-offs k”'), zero);
    // A cut-off typed twice is one (the library refuses --k 10,10): the error is the models'.
    await page.fill('#k', '10, 10');
    await page.fill('#models', 'bm25\nbm25');
    const libraryError = await runAndWait(page);
    check('a library error reaches the page', (libraryError ?? '').includes('two models are named'), String(libraryError));

    // A broken deployment (module or wasm missing) is reported, not waited on forever.
    const before = problems.length;
    for (const path of ['/pkg/embeval_bg.wasm', '/pkg/embeval.js']) {
      missing.add(path);
      await page.goto(page.baseUrl);
      await page.setInputFiles('#folder', xquad);
      const e = await runAndWait(page);
      check(`a missing ${path} is reported`, e !== null && /evaluation module/.test(e), String(e));
      missing.delete(path);
    }
    problems.splice(before); // the 404s above are expected console errors
    await page.goto(page.baseUrl);
    await page.setInputFiles('#folder', xquad);

    // Keyboard: the Run button is reachable and works without a mouse.
    await page.fill('#models', 'bm25');
    await page.focus('#run');
    await page.keyboard.press('Enter');
    await page.waitForFunction(() => /^done/.test(document.getElementById('status').textContent) || !document.getElementById('error').hidden);
    check('Run works from the keyboard', /^done/.test(await page.textContent('#status')));
  } finally {
    await browser.close();
    server.close();
  }

  const foreign = requests.filter((u) => {
    const url = new URL(u.startsWith('blob:') ? u.slice(5) : u);
    return url.hostname !== '127.0.0.1';
  });
  check(`all ${requests.length} requests went to 127.0.0.1`, requests.length > 0 && foreign.length === 0, foreign.join(', '));
  check('the worker loaded the wasm module from the server', served.includes('/pkg/embeval_bg.wasm'), served.join(', '));
  check('no page errors or console errors', problems.length === 0, problems.join('\n     '));
}

await run('e2e', main);
