// Registers sw.js, the page's offline copy, and offers a reload when a new deploy has been
// installed beside the running one (the running page keeps its own files until then, so the
// page and its worker never mix two versions).

/** `onUpdate(apply)` is called when an update is ready; `apply()` switches to it and reloads. */
export async function registerOffline(onUpdate) {
  // Absent on plain-http hosts other than localhost and in some private modes: the page works,
  // online only.
  if (!('serviceWorker' in navigator)) return;
  let registration;
  try {
    registration = await navigator.serviceWorker.register('sw.js');
  } catch {
    return;
  }
  let applying = false;
  navigator.serviceWorker.addEventListener('controllerchange', () => {
    // Also fired when the first worker takes over a fresh page: reload only when asked.
    if (applying) location.reload();
  });
  const offer = () => {
    const waiting = registration.waiting;
    if (!waiting || !navigator.serviceWorker.controller) return;
    onUpdate(() => {
      applying = true;
      waiting.postMessage('skip-waiting');
    });
  };
  offer();
  registration.addEventListener('updatefound', () => {
    const installing = registration.installing;
    installing?.addEventListener('statechange', () => {
      if (installing.state === 'installed') offer();
    });
  });
}
