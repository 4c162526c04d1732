// Runs embeval's wasm module off the page's thread, so a long evaluation never freezes the UI.
// Messages in:  {type: 'run', files: {logicalName: Uint8Array}, config: '<Config JSON>'}
// Messages out: {type: 'ready'} once the module is loaded, then per run:
//   {type: 'status', text}, {type: 'progress', step, done, total},
//   {type: 'validation', json}, {type: 'model', json} (results.json so far, after each model),
//   {type: 'done', outputs: {'results.json', 'results.csv', 'per_query.jsonl'}} or {type: 'error', message}.
import init, { validate, evaluateAll } from './pkg/embeval.js';

const post = (msg) => self.postMessage(msg);
const message = (e) => (e && e.message) || String(e);

const ready = init().then(
  () => post({ type: 'ready' }),
  (e) => {
    post({ type: 'error', message: `could not load the evaluation module (pkg/embeval_bg.wasm): ${message(e)}` });
    throw e;
  },
);

self.onmessage = async ({ data }) => {
  if (data.type !== 'run') return;
  try {
    await ready;
    post({ type: 'status', text: 'checking the dataset…' });
    post({ type: 'validation', json: validate(data.files, data.config) });
    post({ type: 'status', text: 'evaluating…' });
    const outputs = evaluateAll(
      data.files,
      data.config,
      (step, done, total) => post({ type: 'progress', step, done, total }),
      (json) => post({ type: 'model', json }),
    );
    post({ type: 'done', outputs });
  } catch (e) {
    // Library errors name the file, line and fix; a Rust panic arrives as a RuntimeError
    // (its message went to the console through console_error_panic_hook).
    post({ type: 'error', message: message(e) });
  }
};
