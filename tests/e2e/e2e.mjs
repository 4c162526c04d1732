// The browser page end to end: serve www/ from 127.0.0.1, choose real datasets in headless
// Chromium, run them, and require every number the page shows and offers for download to
// equal what the native CLI writes for the same files and settings.
//
//   node tests/e2e/e2e.mjs     (after scripts/build-web.sh and a release CLI build; see scripts/test-web.sh)
//
// Env: EMBEVAL_BIN (native CLI; default target/release/embeval), EMBEVAL_DATA (shared data
// folder; default ../shared/data), CHROMIUM (default /usr/bin/chromium).
// Screenshots go to tests/e2e/artifacts/.

import { execFileSync } from 'node:child_process';
import { createServer } from 'node:http';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, extname, join, normalize, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const here = dirname(fileURLToPath(import.meta.url));
const root = resolve(here, '../..');
const www = join(root, 'www');
const artifacts = join(here, 'artifacts');
const data = resolve(root, process.env.EMBEVAL_DATA ?? '../shared/data');
const bin = resolve(root, process.env.EMBEVAL_BIN ?? 'target/release/embeval');
const TOLERANCE = 1e-12;
const RUN_TIMEOUT_MS = 180_000;

let passed = 0;
let failed = 0;
function check(name, ok, detail = '') {
  if (ok) {
    passed++;
    console.log(`ok   ${name}`);
  } else {
    failed++;
    console.log(`FAIL ${name}${detail ? `\n     ${detail}` : ''}`);
  }
}

// ---- the native reference ------------------------------------------------------------------

/** Runs the CLI; returns its results.json, per_query.jsonl and the Markdown table it prints. */
function native(args, cwd) {
  const out = mkdtempSync(join(tmpdir(), 'embeval-e2e-'));
  try {
    const stdout = execFileSync(bin, ['eval', ...args, '--out', out, '--quiet'], { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
    return {
      results: JSON.parse(readFileSync(join(out, 'results.json'), 'utf8')),
      perQuery: readFileSync(join(out, 'per_query.jsonl'), 'utf8'),
      table: markdownRows(stdout),
    };
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
}

/** `| model | nDCG@10 | ... |` → [[cells], ...] without the separator line. */
function markdownRows(md) {
  return md.split('\n').filter((l) => l.startsWith('|') && !l.startsWith('|---'))
    .map((l) => l.slice(1, -1).split(' | ').map((c) => c.trim()));
}

/** Differences between two JSON values: numbers within TOLERANCE, timings skipped. */
function diff(a, b, path = '$', out = []) {
  if (typeof a === 'number' && typeof b === 'number') {
    if (!(Math.abs(a - b) <= TOLERANCE)) out.push(`${path}: ${a} vs ${b}`);
  } else if (Array.isArray(a) && Array.isArray(b)) {
    if (a.length !== b.length) out.push(`${path}: length ${a.length} vs ${b.length}`);
    else a.forEach((x, i) => diff(x, b[i], `${path}[${i}]`, out));
  } else if (a && b && typeof a === 'object' && typeof b === 'object') {
    const keys = (o) => Object.keys(o).filter((k) => k !== 'timings');
    if (keys(a).join() !== keys(b).join()) out.push(`${path}: keys ${keys(a)} vs ${keys(b)}`);
    else keys(a).forEach((k) => diff(a[k], b[k], `${path}.${k}`, out));
  } else if (a !== b) {
    out.push(`${path}: ${JSON.stringify(a)} vs ${JSON.stringify(b)}`);
  }
  return out;
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

// ---- serving www/ --------------------------------------------------------------------------

const MIME = {
  '.html': 'text/html; charset=utf-8', '.js': 'text/javascript; charset=utf-8', '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8', '.wasm': 'application/wasm', '.json': 'application/json',
  '.wgsl': 'text/plain; charset=utf-8', '.png': 'image/png', '.svg': 'image/svg+xml', '.ts': 'text/plain; charset=utf-8',
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

/** Clicks Run and waits for "done" or an error; returns the error text or null. */
async function runAndWait(page) {
  await page.click('#run');
  await page.waitForFunction(
    () => !document.getElementById('error').hidden || /^done/.test(document.getElementById('status').textContent),
    null,
    { timeout: RUN_TIMEOUT_MS },
  );
  return page.evaluate(() => (document.getElementById('error').hidden ? null : document.getElementById('error').textContent));
}

/** The table as shown: header labels and each row's cells. */
function shownTable(page) {
  return page.evaluate(() => [...document.querySelectorAll('#table tr')].map((tr) => [...tr.cells].map((c) => c.textContent)));
}

async function download(page, name) {
  const [dl] = await Promise.all([page.waitForEvent('download'), page.click(`button[data-file="${name}"]`)]);
  const path = join(artifacts, `download-${name}`);
  await dl.saveAs(path);
  return readFileSync(path, 'utf8');
}

/** One dataset run: the page against the CLI for the same files and settings. */
async function scenario(page, { name, choose, convention, k, models, cliArgs, cwd, shot }) {
  await page.goto(page.baseUrl);
  await choose(page);
  await page.check(`input[name=convention][value=${convention}]`);
  await page.fill('#k', k);
  await page.fill('#models', models.join('\n'));
  await page.screenshot({ path: join(artifacts, `${shot}-chosen.png`), fullPage: true });

  const ref = native([...cliArgs, '--convention', convention, '--k', k, ...models.flatMap((m) => ['--model', m])], cwd);
  const t0 = Date.now();
  const error = await runAndWait(page);
  check(`${name}: the run finishes without an error`, error === null, error ?? '');
  if (error) return;
  console.log(`     (${((Date.now() - t0) / 1000).toFixed(1)} s in the page)`);
  await page.screenshot({ path: join(artifacts, `${shot}-results.png`), fullPage: true });

  const shown = JSON.parse(await page.textContent('#results-json'));
  const last = await page.evaluate(() => window.__embevalLast);
  check(`${name}: window.__embevalLast is the shown results.json`, diff(last, shown).length === 0);
  const metricDiffs = ref.results.models.flatMap((m, i) => diff(shown.models[i]?.metrics ?? {}, m.metrics, `models[${i}].metrics`));
  const count = ref.results.models.reduce((n, m) => n + Object.keys(m.metrics).length, 0);
  check(`${name}: all ${count} metric means equal the CLI's to ${TOLERANCE}`, metricDiffs.length === 0, metricDiffs.slice(0, 5).join('; '));
  const allDiffs = diff(shown, ref.results);
  check(`${name}: results.json equals the CLI's (timings aside)`, allDiffs.length === 0, allDiffs.slice(0, 5).join('; '));

  const table = await shownTable(page);
  const cut = (rows) => rows.map((r) => r.slice(0, -1)); // the time column differs by nature
  check(`${name}: the table shows the CLI's Markdown table`, JSON.stringify(cut(table)) === JSON.stringify(cut(ref.table)),
    `page ${JSON.stringify(cut(table))}\n     cli  ${JSON.stringify(cut(ref.table))}`);

  const json = await download(page, 'results.json');
  check(`${name}: the downloaded results.json is the shown one`, json === await page.textContent('#results-json'));
  const perQuery = await download(page, 'per_query.jsonl');
  const lines = (s) => s.trim().split('\n').map((l) => JSON.parse(l));
  const [got, want] = [lines(perQuery), lines(ref.perQuery)];
  // Embedding scores come from sgemm: natively matrixmultiply picks an FMA kernel at run
  // time, wasm has no FMA, so scores may differ in the last f32 bits (2^-21 relative allows
  // 4 ulps). The ranked doc ids must still be identical; BM25 scores must match exactly.
  const emb = new Set(ref.results.models.filter((m) => m.spec.kind === 'emb').map((m) => m.name));
  let lastBits = 0;
  const topDiffs = [];
  got.forEach((row, i) => {
    if (!emb.has(row.model) || !want[i]) return;
    const [a, b] = [row.top, want[i].top];
    if (a.map(([d]) => d).join() !== b.map(([d]) => d).join()) topDiffs.push(`[${i}] ${row.query_id}: ranking differs`);
    a.forEach(([, x], j) => {
      const y = b[j]?.[1];
      if (x !== y) lastBits++;
      if (!(Math.abs(x - y) <= 2 ** -21 * Math.abs(y))) topDiffs.push(`[${i}] ${row.query_id} top ${j}: ${x} vs ${y}`);
    });
    delete row.top;
    delete want[i].top;
  });
  if (lastBits) console.log(`     (${lastBits} embedding scores differ from native in the last f32 bits)`);
  const pqDiffs = [...topDiffs, ...diff(got, want)];
  check(`${name}: per_query.jsonl equals the CLI's (rankings, scores, per-query metrics)`, pqDiffs.length === 0, pqDiffs.slice(0, 5).join('; '));
  const csv = await download(page, 'results.csv');
  check(`${name}: results.csv has one row per model`, csv.trim().split('\n').length === models.length + 1, csv);
}

async function main() {
  mkdirSync(artifacts, { recursive: true });
  if (!existsSync(join(www, 'pkg', 'embeval_bg.wasm'))) throw new Error('www/pkg is not built: run scripts/build-web.sh');
  if (!existsSync(bin)) throw new Error(`no native CLI at ${bin}: cargo build --release --no-default-features --features cli, or set EMBEVAL_BIN`);

  const { server, served, missing, port } = await serve();
  const args = [
    '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run',
    '--disable-quic', '--disable-dev-shm-usage', '--enable-unsafe-webgpu',
  ];
  if (process.getuid?.() === 0) args.push('--no-sandbox');
  const browser = await chromium.launch({ executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium', headless: true, args });
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

    // 1. A BEIR folder through the folder picker, the CLI's defaults.
    const xquad = join(data, 'xquad-en');
    await scenario(page, {
      name: 'xquad-en folder, bm25, trec',
      shot: '02-xquad',
      choose: async (p) => {
        await p.setInputFiles('#folder', xquad);
        const names = await p.$$eval('#chosen tbody th', (ths) => ths.map((th) => th.textContent));
        check('the folder maps to BEIR logical names', ['corpus.jsonl', 'qrels/test.tsv', 'queries.jsonl'].every((n) => names.includes(n)), names.join(', '));
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
      });
    } else {
      console.log(`skip jsquad-valid: ${jsquad} not found`);
    }

    // 3. Precomputed embeddings chosen next to the folder (the CLI reads the same files).
    const embDir = mkdtempSync(join(tmpdir(), 'embeval-e2e-emb-'));
    const npys = makeEmbeddings(xquad, embDir);
    await scenario(page, {
      name: 'xquad-en + emb:q.npy,d.npy, trec',
      shot: '04-emb',
      choose: async (p) => {
        await p.setInputFiles('#folder', xquad);
        await p.setInputFiles('#files', npys);
      },
      convention: 'trec',
      k: '1,3,5,10,100',
      models: ['bm25', 'emb:q.npy,d.npy'],
      cliArgs: ['--data', xquad],
      cwd: embDir,
    });
    rmSync(embDir, { recursive: true, force: true });

    // 4. Errors are shown, never a silent hang.
    await page.goto(page.baseUrl);
    await page.setInputFiles('#files', join(xquad, 'queries.jsonl'));
    const err = await runAndWait(page);
    check('a dataset without a corpus shows what to add', err !== null && err.includes('BEIR folder'), String(err));
    check('the error is announced (role=alert)', await page.getAttribute('#error', 'role') === 'alert');
    await page.screenshot({ path: join(artifacts, '05-error.png'), fullPage: true });
    await page.setInputFiles('#folder', xquad);
    await page.fill('#k', '1,ten');
    await page.click('#run');
    check('bad cut-offs are named', (await page.textContent('#error')).includes("'ten'"));
    await page.fill('#k', '10');
    await page.fill('#models', 'bm25\nbm25');
    check('a library error reaches the page', (await runAndWait(page) ?? '').includes('two models are named'));

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

try {
  await main();
} catch (e) {
  failed++;
  console.log(`FAIL ${e.stack ?? e}`);
}
console.log(`e2e: ${passed} passed, ${failed} failed`);
process.exit(failed === 0 ? 0 : 1);
