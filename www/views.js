// The results views, shared by the page (app.js) and report.html (src/report/html.rs inlines
// this file): render(container, results) draws everything results.json carries.

/** Draws the views of `results` (a parsed results.json) into `container`. */
export function render(container, results) {
  container.textContent = `${results.models.length} models`;
}
