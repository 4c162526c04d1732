// Runs embeval's wasm module off the page's thread, so a long evaluation never freezes the UI.
// Messages in:
//   {type: 'run', files: {logicalName: Uint8Array}, config: '<Config JSON>', bundled: [model]}
//   {type: 'embed', files, bundled, dir, texts: [string], options}   (tests; options as the
//     neural settings of the config: {batch_size, max_batch_tokens, max_length, dtype})
// where each bundled model is an entry of models/index.json ({name, rev, files: [{path, size}]}):
// its files are fetched from models/<name>/ beside the page once, kept in Cache Storage, and
// added to `files` as `<name>/<path>`, so the model line `<name>` finds them like a chosen folder.
// Messages out: {type: 'ready'} once the module is loaded, then per request:
//   {type: 'status', text}, {type: 'progress', step, done, total, unit?} (unit 'bytes' while downloading),
//   for 'run': {type: 'validation', json}, {type: 'model', json} (results.json so far, after each model),
//     {type: 'done', outputs: {'results.json', 'results.csv', 'per_query.jsonl'}};
//   for 'embed': {type: 'vectors', dim, vectors: Float32Array, info, seconds};
//   or {type: 'error', message}.
import init, { validate, evaluateAll, Embedder } from './pkg/embeval.js';

const post = (msg, transfer) => self.postMessage(msg, transfer ?? []);
const message = (e) => (e && e.message) || String(e);
const progress = (step, done, total, unit) => post({ type: 'progress', step, done, total, unit });

const ready = init().then(
  () => post({ type: 'ready' }),
  (e) => {
    post({ type: 'error', message: `could not load the evaluation module (pkg/embeval_bg.wasm): ${message(e)}` });
    throw e;
  },
);

// One cache for every bundled model; a file's key carries its model's revision, so a rebuilt
// model is fetched again and the stale copy deleted.
const CACHE = 'embeval-models';

/** Opens the cache, or null where Cache Storage is unavailable (plain-http hosts, some private modes). */
async function openCache() {
  try {
    return self.caches ? await self.caches.open(CACHE) : null;
  } catch {
    return null;
  }
}

/** Reads a response body, reporting bytes as they arrive. */
async function readBody(response, onBytes) {
  if (!response.body) return new Uint8Array(await response.arrayBuffer());
  const chunks = [];
  let n = 0;
  for (const reader = response.body.getReader(); ;) {
    const { done, value } = await reader.read();
    if (done) break;
    chunks.push(value);
    n += value.length;
    onBytes(value.length);
  }
  const out = new Uint8Array(n);
  let at = 0;
  for (const c of chunks) {
    out.set(c, at);
    at += c.length;
  }
  return out;
}

/** Adds a bundled model's files to `files` as `<name>/<path>`: from Cache Storage when there,
 *  otherwise fetched from models/<name>/ and stored for next time. */
async function addBundled(model, files) {
  const cache = await openCache();
  const total = model.files.reduce((n, f) => n + f.size, 0);
  const step = `${model.name}: download model`;
  let done = 0;
  let last = 0;
  const advance = (n) => {
    done += n;
    if (done - last >= total / 100 || done === total) {
      last = done;
      progress(step, done, total, 'bytes');
    }
  };
  progress(step, 0, total, 'bytes');
  if (cache) {
    // Entries of this model under an older revision: a rebuilt page replaced them.
    const prefix = new URL(`models/${encodeURIComponent(model.name)}/`, self.location.href).href;
    for (const req of await cache.keys()) {
      if (req.url.startsWith(prefix) && new URL(req.url).searchParams.get('rev') !== model.rev) await cache.delete(req);
    }
  }
  for (const f of model.files) {
    const url = new URL(`models/${encodeURIComponent(model.name)}/${f.path}?rev=${model.rev}`, self.location.href).href;
    let bytes = null;
    const hit = cache && await cache.match(url);
    if (hit) {
      bytes = new Uint8Array(await hit.arrayBuffer());
      if (bytes.length !== f.size) bytes = null; // cut short: fetch again
      else advance(bytes.length);
    }
    if (!bytes) {
      const response = await fetch(url).catch((e) => {
        throw new Error(`bundled model ${model.name}: ${f.path} could not be downloaded (${e.message}): ${
          self.navigator.onLine === false ? 'this browser is offline, and ' : ''}a bundled model is kept for offline use once it has been used online — connect and run it once`);
      });
      if (!response.ok) throw new Error(`bundled model ${model.name}: ${f.path} answered HTTP ${response.status}`);
      bytes = await readBody(response, advance);
      if (bytes.length !== f.size) throw new Error(`bundled model ${model.name}: ${f.path} has ${bytes.length} bytes, models/index.json says ${f.size}`);
      // A full disk or quota only costs the next load a download.
      if (cache) await cache.put(url, new Response(bytes)).catch(() => {});
    }
    files[`${model.name}/${f.path}`] = bytes;
  }
  progress(step, total, total, 'bytes');
}

async function withBundled(data) {
  for (const model of data.bundled ?? []) await addBundled(model, data.files);
  return data.files;
}

async function evaluateRun(data) {
  const files = await withBundled(data);
  post({ type: 'status', text: 'checking the dataset…' });
  post({ type: 'validation', json: validate(files, data.config) });
  post({ type: 'status', text: 'evaluating…' });
  const outputs = await evaluateAll(files, data.config, progress, (json) => post({ type: 'model', json }));
  post({ type: 'done', outputs });
}

/** The dataset check alone, as the page shows it when files are chosen. */
async function check(data) {
  post({ type: 'validation', json: validate(data.files, data.config) });
}

async function embed(data) {
  const files = await withBundled(data);
  progress(`${data.dir}: load model`, 0, 1);
  const embedder = new Embedder(files, data.dir, JSON.stringify(data.options ?? {}));
  progress(`${data.dir}: load model`, 1, 1);
  try {
    const t0 = performance.now();
    const vectors = embedder.encode(data.texts, (step, done, total) => progress(`${data.dir}: ${step}`, done, total));
    const seconds = (performance.now() - t0) / 1000;
    post({ type: 'vectors', dim: embedder.dim, vectors, info: embedder.info, seconds }, [vectors.buffer]);
  } finally {
    embedder.free();
  }
}

self.onmessage = async ({ data }) => {
  const handler = { run: evaluateRun, embed, check }[data.type];
  if (!handler) return;
  try {
    await ready;
    await handler(data);
  } catch (e) {
    // Library errors name the file, line and fix; a Rust panic arrives as a RuntimeError
    // (its message went to the console through console_error_panic_hook).
    post({ type: 'error', message: message(e) });
  }
};
