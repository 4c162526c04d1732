// What the e2e scripts share: `check` prints one ok/FAIL line per expectation; `run` runs a
// script's main, counts an exception as a failure, prints the tally and exits non-zero on any
// failure; `runAndWait` drives the page's Run button.

/** How long one evaluation in the page may take. */
const RUN_TIMEOUT_MS = 180_000;

let passed = 0;
let failed = 0;

export function check(name, ok, detail = '') {
  if (ok) {
    passed++;
    console.log(`ok   ${name}`);
  } else {
    failed++;
    console.log(`FAIL ${name}${detail ? `\n     ${detail}` : ''}`);
  }
}

export async function run(script, main) {
  try {
    await main();
  } catch (e) {
    failed++;
    console.log(`FAIL ${e.stack ?? e}`);
  }
  console.log(`${script}: ${passed} passed, ${failed} failed`);
  process.exit(failed === 0 ? 0 : 1);
}

/** Clicks Run and waits for "done" or an error; returns the error text or null. */
export async function runAndWait(page) {
  await page.click('#run');
  await page.waitForFunction(
    () => !document.getElementById('error').hidden || /^done/.test(document.getElementById('status').textContent),
    null,
    { timeout: RUN_TIMEOUT_MS },
  );
  return page.evaluate(() => (document.getElementById('error').hidden ? null : document.getElementById('error').textContent));
}

/** Debian's headless Chromium as every script here starts it: no background traffic, WebGPU on
 *  (SwiftShader where there is no GPU). `chromium` is playwright-core's, passed in so that this
 *  file needs no package of its own. */
export function launchChromium(chromium) {
  const args = [
    '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run',
    '--disable-quic', '--disable-dev-shm-usage', '--enable-unsafe-webgpu',
  ];
  if (process.getuid?.() === 0) args.push('--no-sandbox');
  return chromium.launch({ executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium', headless: true, args });
}
