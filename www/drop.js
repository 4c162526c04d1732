// Files and folders dropped on the page, given as the pickers give them, so that one mapping
// (app.js `choose`) reads both: [{file, path}] where path is what a folder picker puts in
// webkitRelativePath ('<folder>/<path inside it>'), and '' for a file dropped on its own.
// Folders are read recursively through the File and Directory Entries API (webkitGetAsEntry,
// in every current browser); without it only the dropped files themselves are taken.

/** Must be called during the drop event: the browser empties `items` once the handler returns. */
export function droppedFiles(dataTransfer) {
  const items = [...(dataTransfer.items ?? [])].filter((item) => item.kind === 'file');
  // Both calls are synchronous, so they run while the items are still readable.
  const roots = items.map((item) => item.webkitGetAsEntry?.() ?? item.getAsFile()).filter(Boolean);
  if (items.length === 0) roots.push(...dataTransfer.files);
  return (async () => {
    const out = [];
    for (const root of roots) {
      if (root instanceof File) out.push({ file: root, path: '' });
      else await walk(root, '', out);
    }
    return out;
  })();
}

/** Appends a file entry, or every file under a directory entry, with its folder-picker path. */
async function walk(entry, parent, out) {
  if (entry.isFile) {
    const file = await new Promise((ok, fail) => entry.file(ok, fail));
    out.push({ file, path: parent ? `${parent}/${entry.name}` : '' });
  } else if (entry.isDirectory && !(parent && entry.name.startsWith('.'))) {
    // Hidden folders (.git, .cache) would only be filtered out later; don't read them at all.
    const dir = parent ? `${parent}/${entry.name}` : entry.name;
    const reader = entry.createReader();
    // readEntries answers in batches (100 in Chromium) until it answers an empty one.
    for (let batch; (batch = await new Promise((ok, fail) => reader.readEntries(ok, fail))).length;) {
      for (const child of batch) await walk(child, dir, out);
    }
  }
}
