// The benchmark page's code (benches/web/bench.html, driven by bench.mjs): loads embeval's wasm
// embedder and transformers.js (onnxruntime-web, wasm backend, fp32, one thread) on the same
// model, encodes the same texts with each, and returns timings and both tools' vectors.
// Everything is served from 127.0.0.1 by bench.mjs: /www/ (embeval's page and its bundled
// model), /node_modules/ (transformers.js, onnxruntime-web's wasm files), /onnx-models/
// (benches/export_onnx.py's export).

const now = () => performance.now();

/** embeval: the bundled model's files from /www/models/, then an Embedder over them. */
async function loadEmbeval(pkg, model) {
  const { default: init, Embedder } = await import(`${pkg}/embeval.js`);
  await init();
  const index = await (await fetch('/www/models/index.json')).json();
  const entry = index.models.find((m) => m.name === model);
  if (!entry) throw new Error(`${model} is not in /www/models/index.json (scripts/build-web.sh bundles it)`);
  const files = {};
  for (const f of entry.files) files[`${model}/${f.path}`] = new Uint8Array(await (await fetch(`/www/models/${model}/${f.path}`)).arrayBuffer());
  const embedder = new Embedder(files, model);
  return {
    name: 'embeval',
    encode: async (texts, batch) => embedder.encode(texts, batch),
  };
}

/** transformers.js: local files only, onnxruntime-web's wasm from /node_modules/, one thread. */
async function loadTransformers(model) {
  const { pipeline, env } = await import('/node_modules/@huggingface/transformers/dist/transformers.js');
  env.allowRemoteModels = false;
  env.allowLocalModels = true;
  env.localModelPath = '/onnx-models/';
  env.useBrowserCache = false;
  env.backends.onnx.wasm.wasmPaths = '/node_modules/onnxruntime-web/dist/';
  env.backends.onnx.wasm.numThreads = 1;
  env.backends.onnx.wasm.proxy = false;
  const extractor = await pipeline('feature-extraction', model, { dtype: 'fp32', device: 'wasm' });
  const tokenizer = extractor.tokenizer;
  return {
    name: 'transformers.js',
    ortVersion: env.backends.onnx.versions?.web ?? null,
    // Texts whose truncated encoding does not end in [SEP]: transformers.js cuts texts longer
    // than model_max_length after adding special tokens, dropping the final [SEP] that
    // sentence-transformers (and embeval) keep, so those vectors differ by design.
    sepDropped: (texts) => texts.flatMap((t, i) => {
      const ids = tokenizer(t, { truncation: true }).input_ids.data;
      return Number(ids[ids.length - 1]) === tokenizer.sep_token_id ? [] : [i];
    }),
    encode: async (texts, batch) => {
      const out = [];
      for (let i = 0; i < texts.length; i += batch) {
        const t = await extractor(texts.slice(i, i + batch), { pooling: 'mean', normalize: true });
        out.push(t.data);
      }
      const all = new Float32Array(out.reduce((n, a) => n + a.length, 0));
      let at = 0;
      for (const a of out) {
        all.set(a, at);
        at += a.length;
      }
      return all;
    },
  };
}

/** Texts sorted longest first (by characters), with the permutation to undo it: transformers.js
 *  pads each batch to its longest text, embeval sorts by token count itself. */
function sortedByLength(texts) {
  const order = texts.map((_, i) => i).sort((a, b) => texts[b].length - texts[a].length);
  return { texts: order.map((i) => texts[i]), order };
}

function unsort(vectors, order, dim) {
  const out = new Float32Array(vectors.length);
  order.forEach((i, r) => out.set(vectors.subarray(r * dim, (r + 1) * dim), i * dim));
  return out;
}

/**
 * sets: {name: [texts]}; returns {tools: {name: {set: {seconds: [..], textsPerS}}}, vectors}.
 * Repetitions alternate between the tools so drift in the machine's load hits both alike.
 */
export async function bench({ sets, model = 'all-MiniLM-L6-v2', pkg = '/www/pkg', repeats = 3, batch = 32 }) {
  const t0 = now();
  const embeval = await loadEmbeval(pkg, model);
  const loadEmbevalS = (now() - t0) / 1000;
  const t1 = now();
  const tjs = await loadTransformers(model);
  const loadTjsS = (now() - t1) / 1000;
  const variants = [
    embeval,
    tjs,
    { name: 'transformers.js (input sorted by length)', sorted: true, encode: tjs.encode },
  ];
  const result = { load_s: { embeval: loadEmbevalS, 'transformers.js': loadTjsS }, ortVersion: tjs.ortVersion, sets: {} };
  for (const [set, texts] of Object.entries(sets)) {
    const sorted = sortedByLength(texts);
    const r = { texts: texts.length, runs: {}, vectors: {}, sepDropped: tjs.sepDropped(texts) };
    for (const v of variants) {
      await v.encode(texts.slice(0, Math.min(8, texts.length)), batch); // warm-up (first-call compilation)
      r.runs[v.name] = [];
    }
    for (let rep = 0; rep < repeats; rep++) {
      for (const v of variants) {
        const input = v.sorted ? sorted.texts : texts;
        const s = now();
        let vectors = await v.encode(input, batch);
        r.runs[v.name].push((now() - s) / 1000);
        if (rep === 0) {
          if (v.sorted) vectors = unsort(vectors, sorted.order, vectors.length / texts.length);
          r.vectors[v.name] = Array.from(vectors);
        }
      }
    }
    result.sets[set] = r;
  }
  return result;
}

/** One embeval encode of `texts`, for the profiler (bench.mjs starts and stops it around this). */
export async function embevalOnce({ texts, model = 'all-MiniLM-L6-v2', pkg, batch = 32 }) {
  if (!window.__embeval) window.__embeval = await loadEmbeval(pkg, model);
  const s = now();
  await window.__embeval.encode(texts, batch);
  return (now() - s) / 1000;
}

// ---- search ------------------------------------------------------------------------------------

/** Deterministic L2-normalised gaussian rows (mulberry32 + Box–Muller). */
function unitRows(n, dim, seed) {
  let a = seed >>> 0;
  const rand = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const out = new Float32Array(n * dim);
  for (let r = 0; r < n; r++) {
    let norm = 0;
    for (let i = 0; i < dim; i++) {
      const x = Math.sqrt(-2 * Math.log(1 - rand())) * Math.cos(2 * Math.PI * rand());
      out[r * dim + i] = x;
      norm += x * x;
    }
    norm = Math.sqrt(norm);
    for (let i = 0; i < dim; i++) out[r * dim + i] /= norm;
  }
  return out;
}

/** Times embeval's exact search (`searchTopK`: whole calls, as the page makes them: copy into
 *  wasm memory, on "gpu" finding the adapter and compiling the shaders, search, results) on
 *  each path, and checks that the paths return the same ids. */
export async function searchBench({ pkg, shapes, paths, k }) {
  const { default: init, searchTopK } = await import(`${pkg}/embeval.js`);
  await init();
  const results = [];
  for (const { nq, nd, dim, repeats } of shapes) {
    const queries = unitRows(nq, dim, 1);
    const docs = unitRows(nd, dim, 2);
    const ids = {};
    for (const path of paths) {
      const runs = [];
      let ran;
      for (let r = 0; r < repeats + 1; r++) { // the first call warms up (and is not counted)
        const t0 = now();
        const res = await searchTopK(queries, docs, dim, k, path);
        if (r > 0) runs.push((now() - t0) / 1000);
        ran = res.path;
        if (res.notice) ran += ` (${res.notice})`;
        ids[path] = res.ids;
      }
      results.push({ nq, nd, dim, k, path, ran, runs });
    }
    const [first, ...rest] = paths;
    for (const p of rest) {
      let differ = 0;
      for (let i = 0; i < ids[first].length; i++) if (ids[first][i] !== ids[p][i]) differ++;
      results.push({ nq, nd, dim, k, compare: `${first} vs ${p}`, differing_ids: differ, of: ids[first].length });
    }
  }
  return results;
}
