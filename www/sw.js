// The page's offline copy. scripts/build-web.sh writes www/dist/sw.js from this file with BUILD
// filled in: the site's own files (page, wasm module, models/index.json, demo data) are stored
// in Cache Storage when the worker installs and served from there first, so after one visit the
// page opens and runs without a network. The version is a hash of those files: a new deploy is a
// new worker with a new cache, which replaces the old one when the page reloads into it
// (offline.js offers the reload).
//
// Bundled models are not precached (90 MB a visitor may never use): worker.js keeps each one in
// Cache Storage 'embeval-models' when it is first used, keyed by its revision, and reads it from
// there offline; this worker lets those requests through so nothing is stored twice.
//
// Served from www/ itself (development) BUILD stays null: the worker caches nothing, and takes
// over at once from a built copy served earlier on the same origin, deleting its cache, so edits
// show on reload.

const BUILD = null; // {version, assets: [URL relative to this file]}: written by scripts/build-web.sh
const PREFIX = 'embeval-site-';
const CACHE = BUILD && PREFIX + BUILD.version;

self.addEventListener('install', (event) => {
  if (!BUILD) {
    self.skipWaiting();
    return;
  }
  // cache: 'reload' skips the HTTP cache, which may still hold the previous deploy's files.
  event.waitUntil(caches.open(CACHE).then((cache) => cache.addAll(BUILD.assets.map((url) => new Request(url, { cache: 'reload' })))));
});

self.addEventListener('activate', (event) => {
  event.waitUntil((async () => {
    for (const key of await caches.keys()) {
      if (key.startsWith(PREFIX) && key !== CACHE) await caches.delete(key);
    }
    await self.clients.claim();
  })());
});

// offline.js asks an installed update to take over when the person chooses to reload.
self.addEventListener('message', (event) => {
  if (event.data === 'skip-waiting') self.skipWaiting();
});

if (BUILD) {
  self.addEventListener('fetch', (event) => {
    const request = event.request;
    const scope = self.registration.scope;
    if (request.method !== 'GET' || !request.url.startsWith(scope)) return;
    const path = new URL(request.url).pathname.slice(new URL(scope).pathname.length);
    if (path.startsWith('models/') && path !== 'models/index.json') return; // worker.js's own cache
    event.respondWith((async () => {
      const cache = await caches.open(CACHE);
      const page = request.mode === 'navigate' && (path === '' || path === 'index.html');
      const hit = page ? await cache.match('index.html') : await cache.match(request);
      return hit ?? fetch(request);
    })());
  });
}
