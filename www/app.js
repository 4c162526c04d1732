// The page: the person picks files and settings; a worker (worker.js) runs embeval's wasm
// module; the page shows the dataset check, then the comparison table the CLI prints, and
// offers the files the CLI's --out writes. Nothing is uploaded: files are read in this tab.

import { droppedFiles } from './drop.js';
import { registerOffline } from './offline.js';
import { el, render, setLang, t as cell } from './views.js';

const $ = (id) => document.getElementById(id);

// A silent worker must never leave the page hanging: it has this long to load the module,
// and this long between two messages while it runs (progress arrives every 1 % of a step).
const LOAD_TIMEOUT_MS = 30_000;
const SILENCE_TIMEOUT_MS = 10 * 60_000;

const MIME = {
  'results.json': 'application/json', 'results.csv': 'text/csv', 'per_query.jsonl': 'application/x-ndjson',
  'results.md': 'text/markdown', 'report.html': 'text/html',
};
/** Without "include query and document texts", these downloads are the results-only share. */
const SHARED = { 'results.json': 'share.json', 'report.html': 'share.html' };

/** logical name (as in src/data/mod.rs `names`) → {file, path}, path as a folder picker gives it */
let chosen = new Map();
/** Files dropped on the page or fetched by "Use the demo dataset" ([{file, path}] as drop.js
 *  gives them). Either replaces the whole selection; the file picker can add to it. */
let dropped = [];
/** model folder name (its model line) → Map(path inside the folder → File) */
const modelFolders = new Map();
/** models/index.json: bundled models, fetched from beside the page by the worker */
let bundled = [];
/** The `run:` lines the last choice of files added (taken away with those files). */
let autoRuns = new Set();
/** Counts calls of choose() and checkChosen(): one that awaited while a newer began gives way. */
let chooseGeneration = 0;
let checkGeneration = 0;
/** Files from "or choose files", each choice adding to those before (a file of the same name
 *  replaces the earlier one); a drop, the demo or "Clear" empties it. */
let added = [];
let outputs = null;
let job = null;

// ---- choosing files ----------------------------------------------------------------------

/** The name the library looks for: a folder's files keep their path below the folder
 *  (`qrels/test.tsv`); a BEIR split file chosen alone goes under `qrels/`. `path` is the
 *  file's webkitRelativePath from a folder picker (or a dropped folder), '' for a lone file. */
function logicalName(file, path) {
  if (path) return path.split('/').slice(1).join('/');
  if (/^(test|dev|train|validation)\.tsv(\.gz)?$/.test(file.name)) return `qrels/${file.name}`;
  return file.name;
}

/** Files of a chosen folder that are no data: licences, read-mes, documents and images. */
const NOT_DATA = /^(licen[cs]e|copying|notice|readme|changelog|authors|citation)([._-].*)?$|\.(md|pdf|png|jpe?g|gif|svg|html?)$/i;

/** Names the library reads as they are (src/data/mod.rs `names`, model files). */
const KNOWN = /^(corpus|queries|qalog)\.jsonl$|^(queries|corpus|relevant_docs)\.json$|^qrels$|^qrels\/|\.(npy|safetensors)$/;

/** The first non-empty line of a file (gzip undone). */
async function firstLine(file) {
  let stream = file.stream();
  if (file.name.endsWith('.gz')) stream = stream.pipeThrough(new DecompressionStream('gzip'));
  const reader = stream.pipeThrough(new TextDecoderStream()).getReader();
  let text = '';
  while (!/\S[^\n]*\n/.test(text) && text.length < 65536) {
    const { value, done } = await reader.read().catch(() => ({ done: true }));
    if (done) break;
    text += value;
  }
  reader.cancel().catch(() => {});
  return text.split(/\r?\n/).find((l) => l.trim()) ?? '';
}

/** What a lone file the library does not know by name holds, from its first line: a QA log
 *  (`{"query_id", "query_text", "references"}`, as --data LOG.jsonl), TREC qrels
 *  (`qid 0 docid rel`, as --qrels) or a TREC run (`qid Q0 docid rank score tag`, as --run);
 *  null for anything else (kept under its own name, e.g. for emb: lines). */
async function sniff(file) {
  const line = await firstLine(file).catch(() => '');
  try {
    const o = JSON.parse(line);
    if (o && typeof o === 'object' && 'query_text' in o && 'references' in o) return 'qalog';
  } catch { /* not JSON */ }
  const f = line.trim().split(/\s+/);
  if (f.length === 4 && /^-?\d+$/.test(f[3])) return 'qrels';
  if (f.length === 6 && /^\d+$/.test(f[3]) && Number.isFinite(Number(f[4]))) return 'run';
  return null;
}

/** Everything chosen, from the pickers, a drop or the demo button, through one mapping. Lone
 *  files with other names are looked into: a QA log becomes `qalog.jsonl`, TREC qrels
 *  `qrels`, and each TREC run gets its `run:` model line. */
async function choose() {
  const generation = ++chooseGeneration;
  const next = new Map();
  const runs = [];
  const picked = [...$('folder').files].map((file) => ({ file, path: file.webkitRelativePath }));
  picked.push(...added.map((file) => ({ file, path: '' })));
  const inFolder = [];
  const skipped = [];
  for (const { file, path } of [...dropped, ...picked]) {
    let name = logicalName(file, path);
    if (!name || name.split('/').some((part) => part.startsWith('.'))) continue;
    if (path && NOT_DATA.test(name.split('/').pop())) {
      skipped.push(name); // a folder's licence or read-me: neither read nor sent to the worker
      continue;
    }
    if (!path && !KNOWN.test(name)) {
      const role = await sniff(file);
      if (generation !== chooseGeneration) return; // newer files were chosen meanwhile
      if (role === 'qalog') name = 'qalog.jsonl';
      else if (role === 'qrels') name = 'qrels';
      else if (role === 'run') runs.push(`run:${name}`);
    } else if (path && !KNOWN.test(name)) {
      inFolder.push(name);
    }
    next.set(name, { file, path });
  }
  // A folder that is no known dataset (a QA log beside its corpus.jsonl; TREC qrels and runs, as
  // JQaRA's folder) is looked into as lone files are: by the first line of each other file.
  const has = (n) => next.has(n) || next.has(`${n}.gz`);
  const beirQrels = [...next.keys()].some((n) => n.startsWith('qrels/'));
  const known = (has('corpus.jsonl') && has('queries.jsonl') && beirQrels) || ['queries.json', 'corpus.json', 'relevant_docs.json'].every(has) ||
    has('qalog.jsonl') || has('qrels');
  let problem = null;
  if (!known && inFolder.length) {
    const roles = new Map();
    for (const name of inFolder) roles.set(name, await sniff(next.get(name).file));
    if (generation !== chooseGeneration) return;
    const of = (role) => inFolder.filter((n) => roles.get(n) === role);
    const [qalogs, qrels] = [of('qalog'), of('qrels')];
    if (qalogs.length > 1 || qrels.length > 1) {
      const many = qalogs.length > 1 ? ['QA logs', qalogs] : ['TREC qrels files', qrels];
      problem = `The folder holds ${many[1].length} ${many[0]} (${many[1].join(', ')}): choose the one to evaluate ` +
        'with “or choose files”, with its runs.';
    } else {
      for (const [role, to] of [[qalogs[0], 'qalog.jsonl'], [qrels[0], 'qrels']]) {
        if (role) {
          next.set(to, next.get(role));
          next.delete(role);
        }
      }
      runs.push(...of('run').sort().map((n) => `run:${n}`));
    }
  }
  // The run lines an earlier choice added go with its files; TREC files have no corpus for the
  // default bm25 line: the runs replace it (and it comes back when no line is left).
  const lines = $('models').value.split('\n').map((l) => l.trim()).filter((l) => l && !autoRuns.has(l));
  $('models').value = (runs.length && lines.join() === 'bm25' ? [] : lines.length || runs.length ? lines : ['bm25']).join('\n');
  autoRuns = new Set(runs);
  runs.forEach(addModelLine);
  chosen = next;
  showChosen();
  $('skipped').textContent = skipped.length ? `Not read: ${skipped.sort().join(', ')} (licences, read-mes, documents, images).` : '';
  $('skipped').hidden = !skipped.length;
  const splits = [...chosen.keys()].map((n) => n.match(/^qrels\/(.+)\.tsv(\.gz)?$/)).filter(Boolean).map((m) => m[1]);
  const select = $('split');
  const keep = splits.includes(select.value) ? select.value : splits.includes('test') ? 'test' : splits[0] ?? 'test';
  select.replaceChildren(...(splits.length ? splits : ['test']).map((s) => new Option(s, s, false, s === keep)));
  if (!problem) return checkChosen();
  forgetShown();
  refused(problem);
}

/** Stops a dataset check under way and hides the check and results shown: they belong to the
 *  files or settings before. */
function forgetShown() {
  checker?.terminate();
  checker = null;
  $('validation').hidden = true;
  $('results').hidden = true;
  outputs = null;
}

/** The dataset check (validation report, or what to fix in a bad file) as soon as files are
 *  chosen, before any Run: a worker loads the chosen data alone (models do not matter here). */
let checker = null;
async function checkChosen() {
  const generation = ++checkGeneration;
  clearError();
  checkLine('');
  if (job) return;
  forgetShown();
  if (chosen.size === 0) return status('');
  const files = await readFiles([...chosen].map(([name, { file }]) => [name, file]));
  if (generation !== checkGeneration || job) return; // newer files, or a run, meanwhile
  const convention = document.querySelector('input[name=convention]:checked').value;
  const settings = { split: $('split').value, convention, models: ['bm25'] };
  const worker = new Worker('worker.js', { type: 'module' });
  checker = worker;
  status('checking the dataset…');
  const done = () => {
    worker.terminate();
    if (checker === worker) checker = null;
  };
  worker.onerror = (e) => { e.preventDefault(); done(); };
  worker.onmessage = ({ data }) => {
    if (checker !== worker || job) return done(); // superseded by newer files or a run
    if (data.type === 'ready') return worker.postMessage({ type: 'check', files, config: JSON.stringify(settings) }, Object.values(files).map((a) => a.buffer));
    if (data.type === 'validation') {
      const v = JSON.parse(data.json);
      showValidation(v);
      const d = v.dataset;
      const said = d.num_docs === 0
        ? 'judgments alone (no corpus): evaluate run files (run: lines) or precomputed vectors (emb:)'
        : `${plural(d.num_evaluated_queries, 'query', 'queries')} to evaluate, ${plural(d.num_docs, 'document', 'documents')}: ready to run`;
      status(`dataset checked: ${said}`);
      checkLine(`Dataset checked: ${said}.`, 'validation', 'the dataset check');
    } else if (data.type === 'error') {
      status('');
      refused(data.message);
    }
    if (data.type !== 'status') done();
  };
}

/** The chosen files cannot be evaluated: why (the error box), and a line beside them. */
function refused(message) {
  showError(message);
  checkLine('These files cannot be evaluated.', 'error', 'what to fix');
}

/** "1 query", "2 queries". */
const plural = (n, one, many) => `${n} ${n === 1 ? one : many}`;

/** One line under the chosen files saying what the check found, with a link to the report or
 *  the error (both further down the page). */
function checkLine(text, target, label) {
  const line = $('check-line');
  line.replaceChildren(text);
  if (target) {
    const a = document.createElement('a');
    a.href = `#${target}`;
    a.textContent = label;
    a.addEventListener('click', (e) => {
      e.preventDefault();
      $(target).scrollIntoView({ block: 'start' });
      $(target).focus({ preventScroll: true });
    });
    line.append(' See ', a, '.');
  }
  line.classList.toggle('bad', target === 'error');
  line.hidden = !text;
}

function showChosen() {
  const table = $('chosen');
  table.hidden = chosen.size === 0;
  $('clear-line').hidden = chosen.size === 0;
  table.tBodies[0].replaceChildren(...[...chosen].sort(([a], [b]) => a.localeCompare(b)).map(([name, { file, path }]) =>
    row([cell('th', name, { scope: 'row' }), cell('td', path || file.name), cell('td', size(file.size), { class: 'num' })])));
}

/** A drop or the demo: these files replace whatever was chosen. */
function chooseOnly(files) {
  dropped = files;
  $('folder').value = '';
  $('files').value = '';
  added = [];
  clearError();
  choose();
}

// Files can be dropped anywhere on the page; while they are dragged over it, the dataset
// section shows where they go. A drop elsewhere would make the browser open the file instead.
let dragDepth = 0;
const dragsFiles = (e) => e.dataTransfer?.types.includes('Files');
function dragHighlight(on) {
  $('dataset').classList.toggle('dropping', on);
}
document.addEventListener('dragenter', (e) => {
  if (dragsFiles(e) && dragDepth++ === 0) dragHighlight(true);
});
document.addEventListener('dragleave', (e) => {
  if (dragsFiles(e) && --dragDepth <= 0) {
    dragDepth = 0;
    dragHighlight(false);
  }
});
document.addEventListener('dragover', (e) => {
  if (!dragsFiles(e)) return;
  e.preventDefault();
  e.dataTransfer.dropEffect = job ? 'none' : 'copy';
});
document.addEventListener('drop', async (e) => {
  if (!dragsFiles(e)) return;
  e.preventDefault();
  dragDepth = 0;
  dragHighlight(false);
  if (job) return;
  try {
    // Model folders join the model lines (as the model-folder picker); the rest replaces the dataset.
    const { models, data } = splitDropped(await droppedFiles(e.dataTransfer));
    if (models.length) {
      clearError();
      addModelFolders(models);
    }
    if (data.length) chooseOnly(data);
  } catch (err) {
    showError(`Could not read the dropped files: ${err.message}`);
  }
});

/** The demo dataset beside the page (scripts/build-web.sh copies the repository's demo/). */
const DEMO = ['corpus.jsonl', 'queries.jsonl', 'qrels/test.tsv'];

async function useDemo() {
  const button = $('demo');
  button.disabled = true;
  try {
    chooseOnly(await Promise.all(DEMO.map(async (path) => {
      const response = await fetch(`demo/${path}`);
      if (!response.ok) throw new Error(`demo/${path} answered HTTP ${response.status}`);
      return { file: new File([await response.blob()], path.split('/').pop()), path: `demo/${path}` };
    })));
  } catch (e) {
    showError(`Could not load the demo dataset: ${e.message}`);
  } finally {
    button.disabled = false;
  }
}

function size(bytes) {
  const units = ['B', 'KB', 'MB', 'GB'];
  let i = 0;
  for (; bytes >= 1024 && i < units.length - 1; i++) bytes /= 1024;
  return `${i ? bytes.toFixed(1) : bytes} ${units[i]}`;
}

// ---- models ------------------------------------------------------------------------------

/** The weights the encoder reads: model.safetensors, or the files of a sharded checkpoint
 *  (model-00001-of-00004.safetensors … beside model.safetensors.index.json). */
const WEIGHTS = /^model(-\d+-of-\d+)?\.safetensors$/;

/** The files of a model folder the encoder reads: JSON files (configs, tokenizer, a sharded
 *  checkpoint's index) at the top and in module folders (1_Pooling/config.json), and the
 *  weights; never onnx/ or other exports. */
function modelFile(path) {
  const parts = path.split('/');
  if (parts.some((p) => p.startsWith('.')) || parts.length > 2 || ['onnx', 'openvino'].includes(parts[0])) return false;
  return path.endsWith('.json') || WEIGHTS.test(path);
}

/** Adds model folders from [{file, path}], path as a folder picker gives it ('<folder>/<path>');
 *  each folder becomes a model line. Returns how many folders had model files. */
function addModelFolders(entries) {
  const byFolder = new Map();
  for (const { file, path } of entries) {
    const [folder, ...rest] = path.split('/');
    const inside = rest.join('/');
    if (!folder || !modelFile(inside)) continue;
    if (!byFolder.has(folder)) byFolder.set(folder, new Map());
    byFolder.get(folder).set(inside, file);
  }
  for (const [folder, files] of byFolder) {
    modelFolders.set(folder, files);
    addModelLine(folder);
  }
  showModelFolders();
  return byFolder.size;
}

function chooseModelFolder() {
  const files = [...$('model-folder').files];
  const found = addModelFolders(files.map((file) => ({ file, path: file.webkitRelativePath })));
  if (found === 0 && files.length) showError('That folder has no model files (config.json, model.safetensors, …).');
}

/** Splits dropped files into model folders (a folder with config.json and weights or a
 *  tokenizer at its top, as a sentence-transformers or HF model folder has; a dataset folder
 *  never has config.json) and the rest, which is the dataset. */
function splitDropped(files) {
  const MODEL = ['model.safetensors', 'model.safetensors.index.json', 'pytorch_model.bin', 'tokenizer.json'];
  const tops = new Map();
  for (const f of files) {
    const [top, ...rest] = f.path.split('/');
    if (f.path) (tops.get(top) ?? tops.set(top, new Set()).get(top)).add(rest.join('/'));
  }
  const models = new Set([...tops].filter(([, inside]) => inside.has('config.json') && MODEL.some((m) => inside.has(m))).map(([top]) => top));
  const isModel = (f) => f.path && models.has(f.path.split('/')[0]);
  return { models: files.filter(isModel), data: files.filter((f) => !isModel(f)) };
}

function showModelFolders() {
  const table = $('model-folders');
  table.hidden = modelFolders.size === 0;
  table.tBodies[0].replaceChildren(...[...modelFolders].map(([name, files]) => {
    const missing = ['config.json', 'tokenizer.json'].filter((f) => !files.has(f));
    if (!files.has('model.safetensors') && !files.has('model.safetensors.index.json')) missing.push('model.safetensors');
    const bytes = [...files.values()].reduce((n, f) => n + f.size, 0);
    return row([
      cell('th', missing.length ? `${name} (missing ${missing.join(', ')})` : name, { scope: 'row' }),
      cell('td', String(files.size), { class: 'num' }),
      cell('td', size(bytes), { class: 'num' }),
    ]);
  }));
}

function addModelLine(line) {
  const lines = $('models').value.split('\n').map((l) => l.trim()).filter(Boolean);
  if (!lines.includes(line)) $('models').value = [...lines, line].join('\n');
  showModelPrompts();
}

/** [label, spec] of a model line, as ModelSpec::parse splits `LABEL=SPEC`. */
function splitLabel(line) {
  const eq = line.indexOf('=');
  return eq > 0 && !line.slice(0, eq).includes(':') ? [line.slice(0, eq), line.slice(eq + 1)] : [null, line];
}

/** The model folder a model line names, as ModelSpec::parse reads it; null for bm25, emb:, run:. */
function neuralDir(line) {
  const spec = splitLabel(line)[1];
  const kind = spec.split(':')[0];
  return !spec || ['bm25', 'emb', 'run'].includes(kind) ? null : spec.replace(/\/+$/, '');
}

/** A neural model line's label: its own, else the folder's name without `@revision`. */
function neuralLabel(line) {
  const dir = neuralDir(line);
  return dir && (splitLabel(line)[0] ?? dir.split(/[/\\]/).pop().split('@')[0]);
}

/** One row of prompt inputs per neural model line; typed values survive edits of the lines. */
function showModelPrompts() {
  const table = $('model-prompts');
  const labels = [...new Set($('models').value.split('\n').map((l) => neuralLabel(l.trim())).filter(Boolean))];
  const kept = new Map([...table.tBodies[0].rows].map((r) => [r.dataset.label, [...r.querySelectorAll('input')].map((i) => i.value)]));
  table.tBodies[0].replaceChildren(...labels.map((label, i) => {
    const input = (kind, value) => {
      const box = el('input', { id: `prompt-${kind}-${i}`, autocomplete: 'off', spellcheck: 'false', 'data-kind': kind,
        'aria-label': `${kind === 'query' ? 'query' : 'document'} prompt for ${label}` });
      box.value = value ?? '';
      return el('td', {}, box);
    };
    const [query, document_] = kept.get(label) ?? [];
    const tr = row([cell('th', label, { scope: 'row' }), input('query', query), input('document', document_)]);
    tr.dataset.label = label;
    return tr;
  }));
  table.hidden = labels.length === 0;
}

/** Config `model_prompts`: {label: {query, document}} for the boxes filled in. */
function modelPrompts() {
  const out = {};
  for (const tr of $('model-prompts').tBodies[0].rows) {
    for (const input of tr.querySelectorAll('input')) {
      if (input.value) (out[tr.dataset.label] ??= {})[input.dataset.kind] = input.value;
    }
  }
  return out;
}

/** Offers the models listed in models/index.json (written by scripts/build-web.sh). */
async function loadBundled() {
  try {
    const response = await fetch('models/index.json');
    if (!response.ok) return;
    bundled = (await response.json()).models ?? [];
  } catch {
    return; // a page deployed without models
  }
  const box = $('bundled');
  box.replaceChildren(...bundled.map((m) => {
    const b = document.createElement('button');
    b.type = 'button';
    b.textContent = `Add ${m.name} (bundled, ${size(m.files.reduce((n, f) => n + f.size, 0))})`;
    b.dataset.model = m.name;
    b.addEventListener('click', () => addModelLine(m.name));
    return b;
  }));
  box.hidden = bundled.length === 0;
}

// ---- settings ----------------------------------------------------------------------------

/** The Config JSON of src/lib.rs; the library checks the values and names what to fix. */
function readConfig() {
  const k = $('k').value.split(/[\s,]+/).filter(Boolean).map((s) => {
    if (!/^\d+$/.test(s)) throw new Error(`Cut-offs k: '${s}' is not a whole number (e.g. 1,3,5,10,100)`);
    return Number(s);
  }).filter((v, i, all) => all.indexOf(v) === i); // a cut-off typed twice is one column
  const models = $('models').value.split('\n').map((s) => s.trim()).filter(Boolean);
  const config = {
    split: $('split').value,
    convention: document.querySelector('input[name=convention]:checked').value,
    search: document.querySelector('input[name=search]:checked').value,
    details: 'texts', // the views need the per-query detail; shares drop the texts (share.json)
    failures: 5, // each model's 5 worst queries for the failures view (as --failures 5)
    k,
    models,
  };
  if ($('save-runs').checked) config.save_runs = true;
  // Empty prompt boxes leave each model's own prompts; anything typed applies to every neural model.
  if ($('query-prompt').value) config.query_prompt = $('query-prompt').value;
  if ($('doc-prompt').value) config.doc_prompt = $('doc-prompt').value;
  const perModel = modelPrompts();
  if (Object.keys(perModel).length) config.model_prompts = perModel;
  return config;
}

// ---- running -----------------------------------------------------------------------------

async function run(event) {
  event.preventDefault();
  if (job) return;
  clearError();
  let config;
  try {
    if (chosen.size === 0) throw new Error('Choose a dataset folder or its files first (or drop them on the page, or use the demo dataset).');
    config = readConfig();
  } catch (e) {
    return showError(e.message);
  }
  forgetShown();
  busy(true);
  status('reading files…');
  let files;
  const fromSite = [];
  try {
    files = await readFiles([...chosen].map(([name, { file }]) => [name, file]));
    // Neural models: a chosen folder of that name, else a bundled model (the worker fetches
    // it); a name that is neither is left for the library to report.
    for (const dir of new Set(config.models.map(neuralDir).filter(Boolean))) {
      const folder = modelFolders.get(dir);
      const site = bundled.find((m) => m.name === dir);
      if (folder) {
        status(`reading the model folder ${dir}…`);
        Object.assign(files, await readFiles([...folder].map(([path, file]) => [`${dir}/${path}`, file])));
      } else if (site) {
        fromSite.push(site);
      }
    }
  } catch (e) {
    busy(false);
    return showError(`Could not read the chosen files: ${e.message}`);
  }
  start(files, JSON.stringify(config), fromSite);
}

function start(files, config, fromSite) {
  const started = performance.now();
  const worker = new Worker('worker.js', { type: 'module' });
  let timer = 0;
  const watch = (ms, what) => {
    clearTimeout(timer);
    timer = setTimeout(() => finish(`The evaluation stopped responding (${what}). Reload the page and try again.`), ms);
  };
  const finish = (error) => {
    clearTimeout(timer);
    worker.terminate();
    job = null;
    busy(false);
    if (error) {
      status('');
      showError(error);
    }
  };
  job = {
    cancel: () => {
      finish();
      const shown = window.__embevalLast?.models?.length ?? 0;
      if ($('results').hidden || !shown) return status('cancelled');
      status(`cancelled: the results shown are the ${shown === 1 ? 'model' : `${shown} models`} done before`);
      $('results-source').textContent = `Cancelled: ${shown === 1 ? 'one model' : `${shown} models`} done before the cancel, no files to download.`;
      $('results-source').hidden = false;
    },
  };
  let step = { name: null, since: 0, done: 0 }; // the step in progress, for its ETA
  watch(LOAD_TIMEOUT_MS, `no answer ${LOAD_TIMEOUT_MS / 1000} s after starting`);
  worker.onerror = (e) => {
    e.preventDefault();
    finish(`The evaluation module failed to load${e.message ? `: ${e.message}` : ' (is www/pkg built? run scripts/build-web.sh)'}`);
  };
  worker.onmessageerror = () => finish('A message from the evaluation could not be read.');
  worker.onmessage = ({ data }) => {
    watch(SILENCE_TIMEOUT_MS, `no progress for ${SILENCE_TIMEOUT_MS / 60_000} minutes`);
    switch (data.type) {
      case 'ready':
        status('module loaded');
        worker.postMessage({ type: 'run', files, config, bundled: fromSite }, Object.values(files).map((a) => a.buffer));
        break;
      case 'status':
        status(data.text);
        break;
      case 'progress': {
        const now = performance.now();
        if (data.step !== step.name || data.done < step.done) step = { name: data.step, since: now, done: data.done };
        const left = eta(now - step.since, data.done - step.done, data.total - data.done);
        status((data.unit === 'bytes'
          ? `${data.step}: ${(data.done / 2 ** 20).toFixed(1)} / ${(data.total / 2 ** 20).toFixed(1)} MB`
          : `${data.step}: ${data.done} / ${data.total}`) + (left ? `, about ${left} left in this step` : ''));
        progress(data.total ? data.done / data.total : 0);
        break;
      }
      case 'validation':
        showValidation(JSON.parse(data.json));
        break;
      case 'model':
        showResults(data.json);
        break;
      case 'done':
        outputs = data.outputs;
        showResults(outputs['results.json']);
        finish();
        status(`done in ${((performance.now() - started) / 1000).toFixed(2)} s`);
        $('results-h').focus(); // brings the table into view and tells screen readers where it is
        break;
      case 'error':
        finish(data.message);
        break;
    }
  };
}

// ---- showing -----------------------------------------------------------------------------

function showValidation(v) {
  const pre = $('validation-summary');
  pre.textContent = v.summary;
  setLang(pre, v.summary);
  $('validation').hidden = false;
}

/** Shows a results.json: the views (views.js), and the downloads when this run made them.
 *  `opened`: the name of the file it came from ("Open results"), null after a run. */
function showResults(json, opened = null) {
  const r = JSON.parse(json);
  render($('views'), r, { level: 3, tableId: 'table' });
  // The exact numbers, for people and tests that want more than 4 decimals.
  $('results-json').textContent = json;
  window.__embevalLast = r;
  for (const b of document.querySelectorAll('[data-file]')) b.disabled = !outputs; // files come when all models ran
  // One button per run file (`runs/LABEL.trec`, with "Keep each model's ranking").
  const runs = Object.keys(outputs ?? {}).filter((name) => name.startsWith('runs/'));
  $('run-buttons').replaceChildren(...runs.map((name) => {
    const b = document.createElement('button');
    b.type = 'button';
    b.dataset.run = name;
    b.textContent = name.slice('runs/'.length);
    setLang(b, b.textContent);
    b.addEventListener('click', () => download(name));
    return b;
  }));
  $('run-downloads').hidden = runs.length === 0;
  $('downloads').hidden = Boolean(opened);
  $('results-source').hidden = !opened;
  $('results-source').textContent = opened ? `Opened from ${opened}${r.results_only ? ' (results only: no query or document texts)' : ''}; nothing was run.` : '';
  $('results').hidden = false;
}

function download(name) {
  if (!outputs) return;
  const from = SHARED[name] && !$('share-texts').checked ? SHARED[name] : name;
  const url = URL.createObjectURL(new Blob([outputs[from]], { type: MIME[name] ?? 'text/plain' }));
  const a = document.createElement('a');
  a.href = url;
  a.download = name.split('/').pop(); // runs/LABEL.trec → LABEL.trec
  a.click();
  setTimeout(() => URL.revokeObjectURL(url), 60_000);
}

// ---- opening results -----------------------------------------------------------------------

/** The results.json inside a results.json, share.json or report.html: there, the JSON of the
 *  embeval-data script, which src/report/html.rs writes with every "<" escaped, so the first
 *  </script> ends it. (A DOMParser would also parse the report's inline style, which this
 *  page's policy reports as a violation.) */
function resultsFrom(text, name) {
  let json = text;
  if (/\.html?$/i.test(name) || /^\s*</.test(text)) {
    const data = text.match(/<script type="application\/json" id="embeval-data">([\s\S]*?)<\/script>/);
    if (!data) throw new Error(`${name} is not an embeval report.html (it has no embeval-data script)`);
    json = data[1];
  }
  let r;
  try {
    r = JSON.parse(json);
  } catch (e) {
    throw new Error(`${name} is not a results.json: ${e.message}`);
  }
  if (!Array.isArray(r?.models) || !Array.isArray(r?.k)) throw new Error(`${name} is not an embeval results.json (no models and k)`);
  return JSON.stringify(r, null, 2);
}

async function openResults() {
  const file = $('open-results').files[0];
  if (!file || job) return;
  clearError();
  try {
    const json = resultsFrom(await file.text(), file.name);
    outputs = null;
    $('validation').hidden = true;
    showResults(json, file.name);
    status(`opened ${file.name}`);
    $('results-h').focus();
  } catch (e) {
    showError(`Could not open ${file.name}: ${e.message}`);
  }
}

$('open-results').addEventListener('change', openResults);

// ---- small helpers -----------------------------------------------------------------------

/** A table row of these cells (cells made by views.js's `t`, imported here as `cell`). */
function row(cells) {
  return el('tr', {}, cells);
}

/** `[name, File]` pairs → `{name: Uint8Array}`, the worker's input. */
async function readFiles(pairs) {
  const files = {};
  for (const [name, file] of pairs) files[name] = new Uint8Array(await file.arrayBuffer());
  return files;
}

function status(text) {
  $('status').textContent = text;
}

/** "12 s" / "3 min" left at the rate so far: `ms` spent on `done` items, `left` to go; '' until a
 *  second of work and some items give a rate worth showing. */
function eta(ms, done, left) {
  if (ms < 1000 || done <= 0 || left <= 0) return '';
  const s = (ms / done) * left / 1000;
  return s < 90 ? `${Math.ceil(s)} s` : `${Math.ceil(s / 60)} min`;
}

function progress(fraction) {
  $('progress').value = fraction;
}

function busy(on) {
  $('run').disabled = on;
  // The settings a run started with stay those of its results; focus inside them (Enter in a
  // box submits) moves to Cancel rather than to nothing.
  const inside = document.activeElement?.closest('#form > fieldset');
  for (const f of document.querySelectorAll('#form > fieldset')) f.disabled = on;
  if (on && inside) $('cancel').focus();
  $('cancel').hidden = !on;
  $('progress').hidden = !on;
  $('progress').removeAttribute('value'); // indeterminate until the first progress message
  $('form').setAttribute('aria-busy', String(on));
}

/** What the CLI's options that messages name are on this page. */
const ON_THIS_PAGE = {
  '--model': 'a line in “Models”',
  '--k': '“Cut-offs k”',
  '--convention': '“Convention”',
  '--search': '“Search”',
  '--split': '“Judgments (BEIR split)”',
  '--query-prompt': '“Query prompt”',
  '--doc-prompt': '“Document prompt”',
  '--data': 'the dataset folder or files chosen',
  '--qrels': 'a TREC qrels file chosen with the files',
  '--run': 'a TREC run chosen with the files (it becomes a run: line)',
  '--corpus': 'corpus.jsonl chosen beside the QA log',
  '--format': 'not needed: the page tells the format from the files’ names and first lines',
  '--save-runs': '“Keep each model’s ranking as a TREC run”',
};

/** Shows an error; the CLI options it names are followed by what they are on this page. */
function showError(text) {
  const box = $('error');
  const flags = [...new Set(text.match(/(?<![\w-])--[a-z][a-z0-9-]*/g) ?? [])];
  if (flags.length) {
    text += `\n\nOn this page: ${flags.map((f) => `${f} is ${ON_THIS_PAGE[f] ?? 'a command-line option only (embeval eval)'}`).join('; ')}.`;
  }
  box.textContent = text;
  setLang(box, text);
  box.hidden = false;
}

function clearError() {
  $('error').hidden = true;
  $('error').textContent = '';
}

$('folder').addEventListener('change', () => {
  dropped = []; // a new dataset folder
  choose();
});
$('files').addEventListener('change', () => {
  const picked = [...$('files').files];
  added = [...added.filter((f) => !picked.some((p) => p.name === f.name)), ...picked];
  $('files').value = ''; // the same file can be chosen again
  choose();
});
$('clear-files').addEventListener('click', () => {
  $('folder').value = '';
  chooseOnly([]);
});
$('demo').addEventListener('click', useDemo);
$('model-folder').addEventListener('change', chooseModelFolder);
// The check depends on the split and the convention (which queries are evaluated).
$('split').addEventListener('change', checkChosen);
for (const r of document.querySelectorAll('input[name=convention]')) r.addEventListener('change', checkChosen);
$('models').addEventListener('input', showModelPrompts);
loadBundled();
$('form').addEventListener('submit', run);
$('cancel').addEventListener('click', () => job?.cancel());
for (const b of document.querySelectorAll('[data-file]')) b.addEventListener('click', () => download(b.dataset.file));
registerOffline((apply) => {
  $('update').hidden = false;
  $('reload').addEventListener('click', apply, { once: true });
});
