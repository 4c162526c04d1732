// The deployable site end to end: serve www/dist (scripts/build-web.sh) from 127.0.0.1 under a
// path prefix, as GitHub Pages serves a project site, and in headless Chromium:
//   - the demo button selects demo/'s files and BM25 + the bundled all-MiniLM-L6-v2 run on them,
//     with every metric equal to the native CLI's on the same files (EMBEVAL_BIN);
//   - the Content-Security-Policy of index.html (also sent as a header for worker.js, as a host
//     following the README would) is never violated, and no page or console error appears;
//   - every request stays on 127.0.0.1 and under the prefix (relative URLs only);
//   - offline (context.setOffline), the page reloads and runs the demo again from the service
//     worker's cache and worker.js's model cache, without a single request reaching the server;
//   - dropping the demo files, or a folder (read recursively through webkitGetAsEntry), selects
//     them as the pickers do; a dropped model folder joins the model lines and runs;
//   - a new deploy (a sw.js with another version) is offered as a reload and replaces the cache;
//   - the page at 1100 px and at phone width (390 px) has no horizontal overflow; at 1600 px the
//     comparison table shows whole.
//
//   node tests/e2e/site.mjs    (after scripts/build-web.sh; scripts/test-web.sh runs it after e2e.mjs)
//
// Env: CHROMIUM (default /usr/bin/chromium). Screenshots go to tests/e2e/artifacts/site-*.png.

import { execFileSync } from 'node:child_process';
import { createServer } from 'node:http';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, extname, join, normalize, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';
import { check, launchChromium, run, runAndWait } from './harness.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const root = resolve(here, '../..');
const dist = join(root, 'www/dist');
const artifacts = join(here, 'artifacts');
const PREFIX = '/embeval/';
const DEMO = ['corpus.jsonl', 'queries.jsonl', 'qrels/test.tsv'];
const bin = resolve(root, process.env.EMBEVAL_BIN ?? 'target/release/embeval');

/** The native CLI's metric means for the demo run the page makes (its default k). */
function cliMetrics() {
  const out = mkdtempSync(join(tmpdir(), 'embeval-site-'));
  try {
    execFileSync(bin, ['eval', '--data', join(root, 'demo'), '--model', 'bm25', '--model', 'all-MiniLM-L6-v2',
      '--k', '1,3,5,10,100', '--no-cache', '--out', out, '--quiet'], { cwd: join(dist, 'models'), stdio: 'ignore' });
    const r = JSON.parse(readFileSync(join(out, 'results.json'), 'utf8'));
    return Object.fromEntries(r.models.map((m) => [m.name, m.metrics]));
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
}


// ---- serving www/dist under PREFIX -----------------------------------------------------------

const MIME = {
  '.html': 'text/html; charset=utf-8', '.js': 'text/javascript; charset=utf-8', '.css': 'text/css; charset=utf-8',
  '.wasm': 'application/wasm', '.json': 'application/json', '.svg': 'image/svg+xml',
  '.jsonl': 'application/octet-stream', '.tsv': 'text/tab-separated-values', '.md': 'text/markdown; charset=utf-8',
  '.safetensors': 'application/octet-stream',
};

/** The policy in dist/index.html's meta tag, to send as a header where a meta tag cannot apply. */
function metaPolicy() {
  return readFileSync(join(dist, 'index.html'), 'utf8').match(/http-equiv="Content-Security-Policy" content="([^"]+)"/)[1];
}

function serve() {
  const served = []; // every path asked for, answered or not
  const rewrite = new Map(); // path → (text) => text: a "new deploy" of that file
  const state = { down: false }; // true: every connection is dropped, as with no network
  const csp = metaPolicy();
  const server = createServer((req, res) => {
    const path = decodeURIComponent(new URL(req.url, 'http://127.0.0.1').pathname);
    served.push(path);
    if (state.down) {
      req.socket.destroy();
      return;
    }
    const rel = path.startsWith(PREFIX) ? path.slice(PREFIX.length) : null;
    const file = rel === null ? '' : normalize(join(dist, rel === '' || rel.endsWith('/') ? `${rel}index.html` : rel));
    if (!file.startsWith(dist + sep) || !existsSync(file) || !statSync(file).isFile() || !MIME[extname(file)]) {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found');
      return;
    }
    const headers = { 'content-type': MIME[extname(file)], 'cache-control': 'no-cache' };
    // A worker's policy comes from its own response, never from the page's meta tag.
    if (rel === 'worker.js') headers['content-security-policy'] = csp;
    let body = readFileSync(file);
    if (rewrite.has(rel)) body = rewrite.get(rel)(body.toString('utf8'));
    res.writeHead(200, headers).end(body);
  });
  return new Promise((ok) => server.listen(0, '127.0.0.1', () => ok({ server, served, rewrite, state, port: server.address().port })));
}

// ---- driving the page ------------------------------------------------------------------------


/** The chosen-files table: [logical name, file as shown]. */
function chosenRows(page) {
  return page.$$eval('#chosen tbody tr', (trs) => trs.map((tr) => [tr.cells[0].textContent, tr.cells[1].textContent]));
}

/** Model names in the results table and their metrics from results.json. */
async function results(page) {
  return page.evaluate(() => ({
    rows: [...document.querySelectorAll('#table tbody tr')].map((tr) => tr.cells[0].textContent),
    metrics: Object.fromEntries((window.__embevalLast?.models ?? []).map((m) => [m.name, m.metrics])),
  }));
}

/** The demo dataset with BM25 and the bundled model, from the demo button to the results. */
async function demoRun(page, label) {
  await page.click('#demo');
  await page.waitForFunction(() => document.querySelectorAll('#chosen tbody tr').length === 3, null, { timeout: 10_000 }).catch(() => {});
  const rows = await chosenRows(page);
  check(`${label}: the demo button selects demo/'s files under their logical names`,
    JSON.stringify(rows) === JSON.stringify(DEMO.map((f) => [f, `demo/${f}`]).sort()), JSON.stringify(rows));
  await page.fill('#models', 'bm25\nall-MiniLM-L6-v2');
  const t0 = Date.now();
  const error = await runAndWait(page);
  check(`${label}: bm25 + all-MiniLM-L6-v2 run on the demo without an error`, error === null, error ?? '');
  console.log(`     (${((Date.now() - t0) / 1000).toFixed(1)} s)`);
  const r = await results(page);
  check(`${label}: the results table shows both models`, !(await page.isHidden('#results')) &&
    JSON.stringify([...r.rows].sort()) === JSON.stringify(['all-MiniLM-L6-v2', 'bm25']), JSON.stringify(r.rows));
  return r;
}

/** Drops `entries` on the page as a real drop would deliver them. A DataTransfer made in a
 *  page holds Files but no file-system entries (webkitGetAsEntry gives null), so folders are
 *  given as stand-in entries with the same interface (isFile/isDirectory, name, file(),
 *  createReader().readEntries() answering in batches, as Chromium does with 100). */
function drop(page, target, tree) {
  return page.evaluate(async ({ target, tree }) => {
    const file = async (name, url) => new File([await (await fetch(url)).blob()], name);
    const entry = async (name, node) => {
      if (typeof node === 'string') {
        const f = await file(name, node);
        return { isFile: true, isDirectory: false, name, file: (ok) => setTimeout(() => ok(f)) };
      }
      const children = await Promise.all(Object.entries(node).map(([n, c]) => entry(n, c)));
      return {
        isFile: false, isDirectory: true, name,
        createReader: () => {
          let at = 0;
          return { readEntries: (ok) => setTimeout(() => ok(children.slice(at, (at += 2)))) };
        },
      };
    };
    const dt = new DataTransfer();
    const roots = [];
    for (const [name, node] of Object.entries(tree)) {
      if (typeof node === 'string') dt.items.add(await file(name, node));
      else roots.push(await entry(name, node));
    }
    if (roots.length) {
      // Real folder drops come as items whose webkitGetAsEntry() is a directory entry; one real
      // File makes the drag announce itself as files (dataTransfer.types), as a folder drag does.
      dt.items.add(new File([''], 'placeholder'));
      const items = roots.map((r) => ({ kind: 'file', type: '', webkitGetAsEntry: () => r, getAsFile: () => null }));
      Object.defineProperty(dt, 'items', { value: items });
    }
    const el = document.querySelector(target);
    const fire = (type) => el.dispatchEvent(new DragEvent(type, { bubbles: true, cancelable: true, dataTransfer: dt }));
    fire('dragenter');
    fire('dragover');
    const highlighted = document.getElementById('dataset').classList.contains('dropping');
    const prevented = !fire('drop');
    return { highlighted, prevented, after: document.getElementById('dataset').classList.contains('dropping') };
  }, { target, tree });
}

/** Cache Storage as the page sees it: cache names and the number of entries in each. */
function caches(page) {
  return page.evaluate(async () => Object.fromEntries(await Promise.all((await self.caches.keys())
    .map(async (k) => [k, (await (await self.caches.open(k)).keys()).length]))));
}

async function main() {
  mkdirSync(artifacts, { recursive: true });
  for (const f of ['index.html', 'sw.js', 'pkg/embeval_bg.wasm', 'models/index.json', 'demo/corpus.jsonl']) {
    if (!existsSync(join(dist, f))) throw new Error(`www/dist/${f} is missing: run scripts/build-web.sh`);
  }
  const version = readFileSync(join(dist, 'sw.js'), 'utf8').match(/"version": "([0-9a-f]+)"/)[1];
  const { server, served, rewrite, state, port } = await serve();
  const browser = await launchChromium(chromium);
  const requests = [];
  const problems = [];
  const base = `http://127.0.0.1:${port}${PREFIX}`;
  try {
    const context = await browser.newContext({ viewport: { width: 1100, height: 900 }, locale: 'ja-JP' });
    context.on('request', (r) => requests.push(r.url()));
    // Violations of the page's policy, from the first script on, kept across reloads.
    await context.exposeBinding('__cspViolation', (_, v) => problems.push(`CSP violation: ${v}`));
    await context.addInitScript(() => document.addEventListener('securitypolicyviolation',
      (e) => window.__cspViolation(`${e.violatedDirective} blocked ${e.blockedURI || 'inline'} (${e.sourceFile}:${e.lineNumber})`)));
    const page = await context.newPage();
    page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
    page.on('console', (m) => { if (m.type() === 'error') problems.push(`console error: ${m.text()}`); });
    page.on('worker', (w) => w.on('console', (m) => { if (m.type() === 'error') problems.push(`worker console error: ${m.text()}`); }));

    // 1. First visit: the service worker installs and precaches the site.
    await page.goto(base);
    const active = await page.evaluate(() => navigator.serviceWorker.ready.then((r) => r.active.scriptURL));
    check('the service worker is active, registered beside the page', active === `${base}sw.js`, active);
    const site = (await caches(page))[`embeval-site-${version}`];
    const precached = JSON.parse(readFileSync(join(dist, 'sw.js'), 'utf8').match(/"assets": (\[[^\]]*\])/)[1]);
    check(`the site's ${precached.length} files are precached under the build's version ${version}`, site === precached.length, `${site} entries`);
    await page.screenshot({ path: join(artifacts, 'site-01-start-1100.png'), fullPage: true });

    // 2. The one-click demo, with the bundled model (downloaded into worker.js's cache).
    const online = await demoRun(page, 'online');
    const cli = cliMetrics();
    const off = Object.keys(cli).flatMap((m) => Object.keys(cli[m]).filter((k) => !(Math.abs(cli[m][k] - online.metrics[m]?.[k]) <= 1e-12)).map((k) => `${m} ${k}`));
    check(`the site's demo metrics equal the native CLI's (${Object.keys(cli).length} models, to 1e-12)`,
      Object.keys(cli).length === 2 && off.length === 0, off.slice(0, 5).join(', '));
    await page.screenshot({ path: join(artifacts, 'site-02-demo-results-1100.png'), fullPage: true });
    const modelCache = (await caches(page))['embeval-models'];
    check('the bundled model is kept once, in worker.js\'s cache (not in the site cache)',
      modelCache > 0 && !precached.some((a) => a.startsWith('models/all-MiniLM-L6-v2/')), `${modelCache} entries`);

    // 3. Offline: reload and run again. The browser is offline and the server drops every
    //    connection: Chromium's offline emulation does not cover the service worker's own
    //    update check (sw.js), which must then fail quietly.
    await context.setOffline(true);
    state.down = true;
    const before = served.length;
    await page.reload();
    check('offline, the page reloads from the service worker', await page.isVisible('#demo'));
    const offline = await demoRun(page, 'offline');
    await page.screenshot({ path: join(artifacts, 'site-03-offline-results-1100.png'), fullPage: true });
    check('offline, the metrics equal the online run\'s',
      JSON.stringify(offline.metrics) === JSON.stringify(online.metrics) && Object.keys(online.metrics).length === 2);
    const tried = served.slice(before).filter((p) => p !== `${PREFIX}sw.js`);
    check('offline, nothing but the service worker\'s update check tried the server', tried.length === 0, tried.join(', '));

    // 4. Drag and drop (still offline): the three files, then the demo folder.
    await page.goto(base);
    const files = await drop(page, 'main', Object.fromEntries(DEMO.map((f) => [f.split('/').pop(), `demo/${f}`])));
    check('dragging files over the page highlights the dataset section, and the drop clears it', files.highlighted && !files.after);
    check('the drop is taken by the page (default prevented)', files.prevented);
    await page.waitForFunction(() => document.querySelectorAll('#chosen tbody tr').length === 3, null, { timeout: 10_000 }).catch(() => {});
    const droppedFiles = await chosenRows(page);
    check('dropped files map to logical names as the file picker does (test.tsv → qrels/test.tsv)',
      JSON.stringify(droppedFiles) === JSON.stringify([['corpus.jsonl', 'corpus.jsonl'], ['qrels/test.tsv', 'test.tsv'], ['queries.jsonl', 'queries.jsonl']]),
      JSON.stringify(droppedFiles));
    const tree = {
      mydata: {
        'corpus.jsonl': 'demo/corpus.jsonl', 'queries.jsonl': 'demo/queries.jsonl',
        qrels: { 'test.tsv': 'demo/qrels/test.tsv', 'dev.tsv': 'demo/qrels/test.tsv' },
        '.hidden': { 'corpus.jsonl': 'demo/README.md' }, 'README.md': 'demo/README.md',
      },
    };
    const folder = await drop(page, '#dataset', tree);
    await page.waitForFunction(() => document.querySelectorAll('#chosen tbody tr').length === 4, null, { timeout: 10_000 }).catch(() => {});
    const droppedFolder = (await chosenRows(page)).sort();
    check('a dropped folder is read recursively and maps as the folder picker does (hidden folders skipped, its read-me named as not read)',
      folder.prevented && JSON.stringify(droppedFolder) === JSON.stringify([
        ['corpus.jsonl', 'mydata/corpus.jsonl'], ['qrels/dev.tsv', 'mydata/qrels/dev.tsv'],
        ['qrels/test.tsv', 'mydata/qrels/test.tsv'], ['queries.jsonl', 'mydata/queries.jsonl']]) &&
        (await page.textContent('#skipped')).startsWith('Not read: README.md'),
      JSON.stringify(droppedFolder));
    const splits = await page.$$eval('#split option', (os) => os.map((o) => o.value));
    check('the dropped folder\'s splits are offered', JSON.stringify(splits) === '["test","dev"]' || JSON.stringify(splits) === '["dev","test"]', JSON.stringify(splits));
    await page.fill('#models', 'bm25');
    const dropError = await runAndWait(page);
    check('the dropped folder runs (bm25, offline)', dropError === null, dropError ?? '');
    const dropped = await results(page);
    check('the dropped folder gives the demo\'s bm25 metrics', JSON.stringify(dropped.metrics.bm25) === JSON.stringify(online.metrics.bm25));
    // The highlight as a person sees it while dragging.
    await page.evaluate(() => {
      window.scrollTo(0, 0);
      const dt = new DataTransfer();
      dt.items.add(new File(['x'], 'corpus.jsonl'));
      document.querySelector('main').dispatchEvent(new DragEvent('dragenter', { bubbles: true, dataTransfer: dt }));
    });
    await page.screenshot({ path: join(artifacts, 'site-04-dragging-1100.png') });
    await context.setOffline(false);
    state.down = false;

    // A model folder dropped together with a dataset folder joins the model lines, as the
    // model-folder picker takes it, and the dataset is the other folder; a copy of the bundled
    // model's files under another name gives the bundled model's metrics.
    const bundledModel = JSON.parse(readFileSync(join(dist, 'models/index.json'), 'utf8')).models[0];
    const modelTree = {};
    for (const { path } of bundledModel.files) {
      const parts = path.split('/');
      let node = modelTree;
      for (const dir of parts.slice(0, -1)) node = node[dir] ??= {};
      node[parts.at(-1)] = `models/${bundledModel.name}/${path}`;
    }
    await page.goto(base);
    await page.fill('#models', 'bm25');
    await drop(page, 'main', { 'my-minilm': modelTree, mydata: tree.mydata });
    await page.waitForFunction(() => !document.getElementById('model-folders').hidden && document.querySelectorAll('#chosen tbody tr').length === 4,
      null, { timeout: 30_000 }).catch(() => {});
    const folders = await page.$$eval('#model-folders tbody tr', (trs) => trs.map((tr) => [...tr.cells].map((c) => c.textContent)));
    check('a dropped model folder is listed as a model folder with its files',
      folders.length === 1 && folders[0][0] === 'my-minilm' && folders[0][1] === String(bundledModel.files.length), JSON.stringify(folders));
    const lines = await page.inputValue('#models');
    check('the dropped model folder becomes a model line', lines === 'bm25\nmy-minilm', JSON.stringify(lines));
    const beside = (await chosenRows(page)).map(([name]) => name).sort();
    check('the dataset folder dropped with it is the dataset (no model file among its rows)',
      JSON.stringify(beside) === JSON.stringify(['corpus.jsonl', 'qrels/dev.tsv', 'qrels/test.tsv', 'queries.jsonl']), JSON.stringify(beside));
    await page.selectOption('#split', 'test');
    const modelError = await runAndWait(page);
    check('the dropped model folder runs', modelError === null, modelError ?? '');
    const fromFolder = await results(page);
    check('the dropped model folder gives the bundled model\'s metrics',
      JSON.stringify(fromFolder.metrics['my-minilm']) === JSON.stringify(online.metrics['all-MiniLM-L6-v2']) && fromFolder.metrics['my-minilm'] !== undefined);
    await page.screenshot({ path: join(artifacts, 'site-04b-dropped-model-1100.png'), fullPage: true });

    // 5. Phone width, with results.
    await page.goto(base);
    await page.setViewportSize({ width: 390, height: 844 });
    await page.screenshot({ path: join(artifacts, 'site-05-start-390.png'), fullPage: true });
    await demoRun(page, 'at 390 px');
    await page.screenshot({ path: join(artifacts, 'site-06-results-390.png'), fullPage: true });
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
    check('at 390 px the page does not scroll sideways (wide tables scroll in their own box)', overflow <= 0, `${overflow} px too wide`);
    await page.setViewportSize({ width: 1100, height: 900 });
    const overflowWide = await page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
    check('at 1100 px the page does not scroll sideways', overflowWide <= 0, `${overflowWide} px too wide`);
    // A desktop screen: the comparison table uses the window's margins and shows whole.
    await page.setViewportSize({ width: 1600, height: 900 });
    const desktop = await page.evaluate(() => {
      const box = document.getElementById('table').closest('.scroll');
      return { page: document.documentElement.scrollWidth - document.documentElement.clientWidth, table: box.scrollWidth - box.clientWidth,
        right: window.innerWidth - box.getBoundingClientRect().right };
    });
    check('at 1600 px the comparison table shows whole (no sideways scrolling), inside the window',
      desktop.page <= 0 && desktop.table <= 0 && desktop.right >= 16, JSON.stringify(desktop));
    await page.evaluate(() => document.getElementById('table').scrollIntoView());
    await page.screenshot({ path: join(artifacts, 'site-06b-results-1600.png') });
    await page.setViewportSize({ width: 1100, height: 900 });

    // 6. A new deploy: another sw.js version is offered as a reload and replaces the old cache.
    const next = `${version.slice(0, 12)}beef`;
    rewrite.set('sw.js', (text) => text.replace(`"version": "${version}"`, `"version": "${next}"`));
    await page.evaluate(() => navigator.serviceWorker.getRegistration().then((r) => r.update()));
    await page.waitForSelector('#update:not([hidden])', { timeout: 30_000 }).catch(() => {});
    check('a new deploy is offered as a reload', await page.isVisible('#update'));
    await page.evaluate(() => window.scrollTo(0, 0));
    await page.screenshot({ path: join(artifacts, 'site-07-update-1100.png') });
    await Promise.all([page.waitForNavigation({ timeout: 30_000 }).catch(() => {}), page.click('#reload').catch(() => {})]);
    await page.waitForFunction((next) => navigator.serviceWorker.controller && caches.has(`embeval-site-${next}`), next, { timeout: 30_000 }).catch(() => {});
    const after = await caches(page);
    check('after the reload only the new deploy\'s cache is left, beside the model cache',
      JSON.stringify(Object.keys(after).sort()) === JSON.stringify(['embeval-models', `embeval-site-${next}`]), JSON.stringify(after));
    check('the reloaded page is the new deploy\'s and has no update notice', await page.isHidden('#update'));
  } finally {
    await browser.close();
    server.close();
  }

  const foreign = requests.filter((u) => !u.startsWith('blob:') && new URL(u).hostname !== '127.0.0.1');
  check(`all ${requests.length} requests the browser made went to 127.0.0.1`, requests.length > 0 && foreign.length === 0, foreign.join(', '));
  const outside = served.filter((p) => !p.startsWith(PREFIX));
  check(`all ${served.length} requests the server saw were under ${PREFIX} (relative URLs only)`, outside.length === 0, outside.join(', '));
  check('no CSP violation, page error or console error', problems.length === 0, problems.join('\n     '));
}

await run('site', main);
