// Vector comparison shared by the page's e2e test and the browser benchmark (benches/web).

/** Max |a - b| over all components, and the worst row's cosine, over the rows not in `skip`. */
export function compareVectors(a, b, dim, skip = []) {
  let maxDiff = 0;
  let minCos = 1;
  for (let i = 0; i < a.length / dim; i++) {
    if (skip.includes(i)) continue;
    let [dot, na, nb] = [0, 0, 0];
    for (let j = i * dim; j < (i + 1) * dim; j++) {
      maxDiff = Math.max(maxDiff, Math.abs(a[j] - b[j]));
      dot += a[j] * b[j];
      na += a[j] * a[j];
      nb += b[j] * b[j];
    }
    minCos = Math.min(minCos, dot / Math.sqrt(na * nb));
  }
  return { maxDiff, minCos };
}
