// embeval's wasm embedder against transformers.js in headless Chromium, on the same model and
// texts: 256 xquad-en questions and 64 xquad-en paragraphs (title + text, as BEIR builds them).
// Prints texts/s medians over REPEATS runs for each tool and the ratio, checks that both give
// the same vectors (cosine), then profiles one embeval encode with Chromium's sampling profiler
// (CDP Profiler) and prints where its time goes, by wasm function.
//
//   scripts/build-web.sh                       # www/pkg and the bundled model in www/models
//   python3 benches/export_onnx.py             # benches/web/onnx-models (transformers.js layout)
//   (cd benches/web && npm ci --ignore-scripts)
//   node benches/web/bench.mjs [--repeats 3] [--no-profile]
//   node benches/web/bench.mjs --analyze benches/web/results/profile.cpuprofile   (the summary again)
//   node benches/web/bench.mjs --search [--quick]   exact search in the page: WebGPU (Chromium's
//       adapter: SwiftShader without a GPU) against the wasm CPU searcher, 256 × 8192 × 384
//       and 1,000 × 100,000 × 384 (--quick: the first only), k = 10; results/search.json
//
// Env: EMBEVAL_DATA (default ../shared/data), EMBEVAL_CACHE (default ~/.cache/embeval: the
// profile uses cargo's unoptimised-by-wasm-opt module there, which keeps function names),
// CHROMIUM (default /usr/bin/chromium). Results: benches/web/results/bench.json, profile.json.

import { execFileSync } from 'node:child_process';
import { createServer } from 'node:http';
import { existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, extname, join, normalize, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';
import { launchChromium } from '../../tests/e2e/harness.mjs';
import { compareVectors as compare } from '../../tests/e2e/vectors.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const root = resolve(here, '../..');
const data = resolve(root, process.env.EMBEVAL_DATA ?? '../shared/data');
const cache = process.env.EMBEVAL_CACHE ?? join(homedir(), '.cache/embeval');
const out = join(here, 'results');
const argv = process.argv.slice(2);
const opt = (name, dflt) => (argv.includes(name) ? argv[argv.indexOf(name) + 1] : dflt);
const REPEATS = Number(opt('--repeats', 3));
const PROFILE = !argv.includes('--no-profile');
const MODEL = 'all-MiniLM-L6-v2';

// ---- texts -----------------------------------------------------------------------------------

const jsonl = (f) => readFileSync(f, 'utf8').trim().split('\n').map((l) => JSON.parse(l));
const questions = jsonl(join(data, 'xquad-en/queries.jsonl')).slice(0, 256).map((q) => q.text);
const paragraphs = jsonl(join(data, 'xquad-en/corpus.jsonl')).slice(0, 64)
  .map((d) => (d.title ? `${d.title} ${d.text}` : d.text).trim());

// ---- serving ---------------------------------------------------------------------------------

const MIME = {
  '.html': 'text/html; charset=utf-8', '.js': 'text/javascript; charset=utf-8', '.mjs': 'text/javascript; charset=utf-8',
  '.wasm': 'application/wasm', '.json': 'application/json', '.onnx': 'application/octet-stream',
  '.safetensors': 'application/octet-stream',
};
const MOUNTS = [
  ['/www/', join(root, 'www')],
  ['/node_modules/', join(here, 'node_modules')],
  ['/onnx-models/', join(here, 'onnx-models')],
  ['/pkg-names/', join(here, 'pkg-names')],
  ['/', here],
];

function serve() {
  const requests = [];
  const server = createServer((req, res) => {
    const path = decodeURIComponent(new URL(req.url, 'http://127.0.0.1').pathname);
    requests.push(path);
    const [prefix, dir] = MOUNTS.find(([p]) => path.startsWith(p));
    const file = normalize(join(dir, path.slice(prefix.length)));
    if (!file.startsWith(dir + sep) || !existsSync(file) || !statSync(file).isFile() || !MIME[extname(file)]) {
      res.writeHead(404).end('not found');
      return;
    }
    res.writeHead(200, { 'content-type': MIME[extname(file)], 'cache-control': 'no-store' }).end(readFileSync(file));
  });
  return new Promise((ok) => server.listen(0, '127.0.0.1', () => ok({ server, requests, port: server.address().port })));
}

// ---- numbers -----------------------------------------------------------------------------------

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

/** Rust's legacy mangling (`_ZN4core3ptr...17h0123456789abcdefE`) → `core::ptr::...`. */
function demangle(name) {
  const m = name.match(/_ZN(.*)E$/);
  if (!m) return name;
  const parts = [];
  let s = m[1];
  while (s.length) {
    const n = s.match(/^(\d+)/);
    if (!n) break;
    const len = Number(n[1]);
    parts.push(s.slice(n[1].length, n[1].length + len));
    s = s.slice(n[1].length + len);
  }
  if (/^h[0-9a-f]{16}$/.test(parts.at(-1) ?? '')) parts.pop();
  return parts.join('::').replace(/\$LT\$/g, '<').replace(/\$GT\$/g, '>').replace(/\$u20\$/g, ' ')
    .replace(/\$RF\$/g, '&').replace(/\$C\$/g, ',').replace(/\$u7b\$/g, '{').replace(/\$u7d\$/g, '}').replace(/\.\./g, '::');
}

// Kinds of work, matched against a sample's stack from the leaf up (first match wins), so
// that math called by an op counts for the op: erf's own expf calls are GELU, not softmax.
const KINDS = [
  ['GELU (erf)', /erf|GeluErf/],
  ['matmul (gemm kernels, packing, scratch)', /gemm/],
  ['exp (softmax)', /expf|op::Exp|softmax/],
  ['layer norm', /LayerNorm/],
  ['element-wise binary (bias add, scale, broadcast)', /binary_map/],
  ['other element-wise unary', /unary_map|Affine/],
  ['copies, layout changes', /copy|Copy/],
  ['reductions', /Reduce/],
  ['tokenizer', /tokenizers/],
  ['allocation', /alloc|memcpy|memset|memmove/],
];

/** CDP profile → self time per function, and per kind of work, heaviest first. */
function selfTimes(profile) {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const parent = new Map();
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const nameOf = (f) => `${demangle(f.functionName || '(anonymous)').replace(/\[[0-9a-f]{16}\]/g, '')}${f.url && !f.url.includes('.wasm') ? ` [${f.url.split('/').pop()}]` : ''}`;
  const kindOf = (id) => {
    const window = [];
    for (let at = id; at !== undefined; at = parent.get(at)) window.push(nameOf(byId.get(at).callFrame));
    const leaf = window.slice(0, 4);
    for (const [kind, re] of KINDS) if (leaf.some((n) => re.test(n))) return kind;
    for (const n of window) for (const [kind, re] of KINDS) if (re.test(n)) return kind;
    return 'other';
  };
  const self = new Map();
  const kinds = new Map();
  let total = 0;
  profile.samples.forEach((id, i) => {
    const dt = profile.timeDeltas[i] ?? 0;
    const name = nameOf(byId.get(id).callFrame);
    self.set(name, (self.get(name) ?? 0) + dt);
    const kind = kindOf(id);
    kinds.set(kind, (kinds.get(kind) ?? 0) + dt);
    total += dt;
  });
  const sorted = (m) => [...m].sort((a, b) => b[1] - a[1]);
  return { total, rows: sorted(self), kinds: sorted(kinds) };
}

/** Prints and saves where the time of a CDP profile went. */
function report(profile, what, seconds = null) {
  const { total, rows, kinds } = selfTimes(profile);
  console.log(`\nprofile: ${what}; self time by function:`);
  const top = rows.slice(0, 25).map(([name, us]) => ({ name, ms: us / 1000, share: us / total }));
  for (const t of top) console.log(`${(100 * t.share).toFixed(1).padStart(5)} %  ${t.ms.toFixed(0).padStart(6)} ms  ${t.name.slice(0, 150)}`);
  const byKind = kinds.map(([kind, us]) => ({ kind, ms: us / 1000, share: us / total }));
  console.log('\nby kind of work (a sample counts for the first kind found from its leaf up):');
  for (const k of byKind) console.log(`${(100 * k.share).toFixed(1).padStart(5)} %  ${k.ms.toFixed(0).padStart(6)} ms  ${k.kind}`);
  mkdirSync(out, { recursive: true });
  writeFileSync(join(out, 'profile.json'), `${JSON.stringify({ seconds, total_ms: total / 1000, by_kind: byKind, top }, null, 1)}\n`);
}

// ---- running -----------------------------------------------------------------------------------

/** A copy of the wasm module that keeps its function names (wasm-opt drops them). */
function namedPkg() {
  const raw = join(cache, 'target-wasm/wasm32-unknown-unknown/release/embeval.wasm');
  const dir = join(here, 'pkg-names');
  if (!existsSync(raw)) throw new Error(`${raw} missing: run scripts/build-web.sh`);
  if (!existsSync(join(dir, 'embeval_bg.wasm')) || statSync(join(dir, 'embeval_bg.wasm')).mtimeMs < statSync(raw).mtimeMs) {
    execFileSync('wasm-bindgen', ['--target', 'web', '--out-dir', dir, '--out-name', 'embeval', raw], {
      stdio: 'inherit', env: { ...process.env, PATH: `${homedir()}/.cargo/bin:${process.env.PATH}` },
    });
  }
  return '/pkg-names';
}

async function main() {
  for (const [what, path, fix] of [
    ['www/pkg', join(root, 'www/pkg/embeval_bg.wasm'), 'scripts/build-web.sh'],
    ['the bundled model', join(root, `www/models/${MODEL}/model.safetensors`), 'scripts/build-web.sh'],
    ['the ONNX export', join(here, `onnx-models/${MODEL}/onnx/model.onnx`), 'python3 benches/export_onnx.py'],
    ['transformers.js', join(here, 'node_modules/@huggingface/transformers/dist/transformers.js'), '(cd benches/web && npm ci --ignore-scripts)'],
  ]) {
    if (!existsSync(path)) throw new Error(`${what} is missing (${path}): run ${fix}`);
  }
  mkdirSync(out, { recursive: true });
  const { server, requests, port } = await serve();
  const browser = await launchChromium(chromium);
  const foreign = [];
  try {
    const context = await browser.newContext();
    context.on('request', (r) => { if (new URL(r.url()).hostname !== '127.0.0.1' && !r.url().startsWith('blob:') && !r.url().startsWith('data:')) foreign.push(r.url()); });
    const page = await context.newPage();
    page.on('console', (m) => { if (m.type() === 'error') console.error(`page: ${m.text()}`); });
    await page.goto(`http://127.0.0.1:${port}/bench.html`);
    const sets = { 'xquad-en questions': questions, 'xquad-en paragraphs': paragraphs };
    console.log(`bench: ${MODEL}, ${questions.length} questions + ${paragraphs.length} paragraphs, batch 32, ${REPEATS} repeats, one thread each`);
    const r = await page.evaluate(async (a) => (await import('/bench.js')).bench(a), { sets, repeats: REPEATS });
    const summary = { model: MODEL, chromium: browser.version(), onnxruntime_web: r.ortVersion, load_s: r.load_s, sets: {} };
    for (const [set, s] of Object.entries(r.sets)) {
      const tps = Object.fromEntries(Object.entries(s.runs).map(([tool, runs]) => [tool, s.texts / median(runs)]));
      const dim = s.vectors.embeval.length / s.texts;
      const same = compare(s.vectors.embeval, s.vectors['transformers.js'], dim, s.sepDropped);
      const sameSorted = compare(s.vectors.embeval, s.vectors['transformers.js (input sorted by length)'], dim, s.sepDropped);
      const dropped = s.sepDropped.map((i) => compare(s.vectors.embeval.slice(i * dim, (i + 1) * dim), s.vectors['transformers.js'].slice(i * dim, (i + 1) * dim), dim).minCos);
      summary.sets[set] = { texts: s.texts, texts_per_s: tps, runs_s: s.runs, ratio: tps.embeval / tps['transformers.js'],
        ratio_vs_sorted: tps.embeval / tps['transformers.js (input sorted by length)'], vs_transformers_js: same, vs_transformers_js_sorted: sameSorted,
        transformers_js_dropped_sep: { texts: s.sepDropped, cosine: dropped } };
      console.log(`${set}: embeval ${tps.embeval.toFixed(1)} texts/s, transformers.js ${tps['transformers.js'].toFixed(1)} texts/s ` +
        `(${tps['transformers.js (input sorted by length)'].toFixed(1)} with input sorted by length); ` +
        `ratio ${(tps.embeval / tps['transformers.js']).toFixed(2)}× (${(tps.embeval / tps['transformers.js (input sorted by length)']).toFixed(2)}× vs sorted); ` +
        `vectors: worst cosine ${same.minCos.toFixed(7)}, max |diff| ${same.maxDiff.toExponential(2)}` +
        (dropped.length ? ` (${dropped.length} texts left out: transformers.js truncation drops their [SEP]; cosine ${dropped.map((c) => c.toFixed(4)).join(', ')})` : ''));
      if (!(same.minCos >= 0.9999 && sameSorted.minCos >= 0.9999 && same.maxDiff <= 1e-4 && dropped.length <= s.texts / 10)) {
        console.log(`FAIL ${set}: the two tools' vectors differ (worst cosine ${same.minCos}, ${sameSorted.minCos})`);
        process.exitCode = 1;
      }
    }
    console.log(`load: embeval ${r.load_s.embeval.toFixed(2)} s, transformers.js ${r.load_s['transformers.js'].toFixed(2)} s; onnxruntime-web ${r.ortVersion}`);
    writeFileSync(join(out, 'bench.json'), `${JSON.stringify(summary, null, 1)}\n`);

    if (PROFILE) {
      const pkg = namedPkg();
      const p2 = await context.newPage();
      await p2.goto(`http://127.0.0.1:${port}/bench.html`);
      const texts = [...questions, ...paragraphs];
      await p2.evaluate(async (a) => (await import('/bench.js')).embevalOnce(a), { texts: texts.slice(0, 16), pkg });
      const cdp = await context.newCDPSession(p2);
      await cdp.send('Profiler.enable');
      await cdp.send('Profiler.setSamplingInterval', { interval: 200 });
      await cdp.send('Profiler.start');
      const seconds = await p2.evaluate(async (a) => (await import('/bench.js')).embevalOnce(a), { texts, pkg });
      const { profile } = await cdp.send('Profiler.stop');
      writeFileSync(join(out, 'profile.cpuprofile'), JSON.stringify(profile));
      report(profile, `one embeval encode of ${texts.length} texts, ${seconds.toFixed(2)} s (names kept, no wasm-opt)`, seconds);
    }
  } finally {
    await browser.close();
    server.close();
  }
  if (foreign.length) {
    console.log(`FAIL requests left 127.0.0.1: ${foreign.join(', ')}`);
    process.exitCode = 1;
  }
  console.log(`bench: ${requests.length} requests, all to 127.0.0.1; results in ${out}`);
}

/** `--search`: embeval's search paths in Chromium (GFLOP/s = 2·nq·nd·dim / median seconds). */
async function searchMain() {
  if (!existsSync(join(root, 'www/pkg/embeval_bg.wasm'))) throw new Error('www/pkg is missing: run scripts/build-web.sh');
  mkdirSync(out, { recursive: true });
  const { server, port } = await serve();
  const browser = await launchChromium(chromium);
  try {
    const page = await browser.newPage();
    page.on('console', (m) => { if (m.type() === 'error') console.error(`page: ${m.text()}`); });
    await page.goto(`http://127.0.0.1:${port}/bench.html`);
    const shapes = [{ nq: 256, nd: 8192, dim: 384, repeats: REPEATS }];
    if (!argv.includes('--quick')) shapes.push({ nq: 1000, nd: 100_000, dim: 384, repeats: 1 });
    const rows = await page.evaluate(async (a) => (await import('/bench.js')).searchBench(a),
      { pkg: '/www/pkg', shapes, paths: ['cpu', 'gpu'], k: 10 });
    for (const r of rows) {
      if (r.compare) {
        console.log(`${r.nq} × ${r.nd} × ${r.dim}: ${r.compare}: ${r.differing_ids} of ${r.of} ids differ`);
        if (r.differing_ids) process.exitCode = 1;
        continue;
      }
      r.median_s = median(r.runs);
      r.gflops = (2 * r.nq * r.nd * r.dim) / r.median_s / 1e9;
      r.queries_per_s = r.nq / r.median_s;
      console.log(`${r.nq} × ${r.nd} × ${r.dim}, k=${r.k}: ${r.path.padEnd(3)} ${(r.median_s * 1e3).toFixed(0).padStart(7)} ms ` +
        `${r.gflops.toFixed(2).padStart(6)} GFLOP/s ${r.queries_per_s.toFixed(0).padStart(6)} queries/s  [${r.ran}]`);
    }
    writeFileSync(join(out, 'search.json'), `${JSON.stringify({ chromium: browser.version(), rows }, null, 1)}\n`);
  } finally {
    await browser.close();
    server.close();
  }
}

if (argv.includes('--search')) await searchMain();
else if (argv.includes('--analyze')) report(JSON.parse(readFileSync(opt('--analyze'), 'utf8')), opt('--analyze'));
else await main();
