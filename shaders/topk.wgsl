// topk.wgsl — per-query partial top-k over slices of a score block written by similarity.wgsl.
//
// Entry point `main`, workgroup_size(64, 1, 1). One invocation per (query, slice): it scans
// scores[q][s * slice_len .. min((s + 1) * slice_len, nd)] in ascending document order and
// keeps the best k in a binary heap (worst entry at the root) in its own region of `partial`.
// Invocation index i = gid.x + gid.y * num_workgroups.x * 64, q = i / n_slices,
// s = i % n_slices, so the host may spread the dispatch over y when x would pass
// max_compute_workgroups_per_dimension. Only these nq × n_slices × k entries are read back;
// the host merges slices and chunks and sorts.
//
// Bindings (group 0):
//   0 uniform             Params (params.wgsl)
//   1 storage, read       scores:    nq × score_stride f32 (from similarity.wgsl)
//   2 storage, read       tie_rank:  nd u32, chunk-local document order
//   3 storage, read_write partial:   (nq × n_slices) × k vec2<u32>: x = chunk-local document
//                                    index, y = bitcast<u32>(score); invocation i fills slots
//                                    i*k .. i*k + n_i, n_i = min(k, length of its slice), in
//                                    heap order (not sorted); slots past n_i are untouched
//
// Order: higher score first, compared as order-preserving u32 keys with -0 folded onto +0, so
// the two zeros tie as numbers do in the CPU searcher (src/search/topk.rs); NaN cannot occur
// (inputs are checked); equal scores: smaller tie_rank first; then smaller index (the host's merge
// does not keep that last rule: tie ranks are meant to be unique).
//
// Limits: the heap lives in `partial` (storage memory), not in private or workgroup memory,
// so the kernel has no fixed k limit; cost is O(slice + accepted · log k). The host uses it
// for k ≤ GPU_TOPK_MAX_K (1024) and 4k ≤ documents per chunk, with slices of at least 32k
// documents (see src/search/gpu.rs); otherwise it reads the score block back and selects on
// the CPU.

// Params: shaders/params.wgsl, which the host compiles in front of this file.

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> scores: array<f32>;
@group(0) @binding(2) var<storage, read> tie_rank: array<u32>;
@group(0) @binding(3) var<storage, read_write> partial: array<vec2<u32>>;

// Maps a score's bits to a u32 whose unsigned order is the numeric order (-0 == +0).
fn order_key(raw: u32) -> u32 {
    var bits = raw;
    if (bits == 0x80000000u) {
        bits = 0u;
    }
    if ((bits & 0x80000000u) != 0u) {
        return ~bits;
    }
    return bits | 0x80000000u;
}

// Does document ia (score key ka) rank before document ib (score key kb)? Tie ranks are
// only loaded when the scores are equal.
fn beats(ka: u32, ia: u32, kb: u32, ib: u32) -> bool {
    if (ka != kb) {
        return ka > kb;
    }
    let ta = tie_rank[ia];
    let tb = tie_rank[ib];
    if (ta != tb) {
        return ta < tb;
    }
    return ia < ib;
}

@compute @workgroup_size(64, 1, 1)
fn main(
    @builtin(global_invocation_id) gid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
) {
    let i = gid.x + gid.y * nwg.x * 64u;
    let q = i / p.n_slices;
    let s = i % p.n_slices;
    if (q >= p.nq) {
        return;
    }
    let start = s * p.slice_len;
    let end = min(start + p.slice_len, p.nd);
    let base = i * p.k;
    let row = q * p.score_stride;

    // partial[base .. base + count] is a binary heap whose root is the worst entry kept:
    // every parent ranks after its children.
    var count = 0u;
    for (var d = start; d < end; d = d + 1u) {
        let bits = bitcast<u32>(scores[row + d]);
        let key = order_key(bits);
        let entry = vec2<u32>(d, bits);
        if (count < p.k) {
            // Sift up: move better parents down until the entry sits below a worse one.
            var j = count;
            count = count + 1u;
            while (j > 0u) {
                let parent = (j - 1u) / 2u;
                let pe = partial[base + parent];
                if (beats(key, d, order_key(pe.y), pe.x)) {
                    break;
                }
                partial[base + j] = pe;
                j = parent;
            }
            partial[base + j] = entry;
            continue;
        }
        let root = partial[base];
        let root_key = order_key(root.y);
        if (key < root_key || !beats(key, d, root_key, root.x)) {
            continue;
        }
        // Replace the root and sift down: move the worse child up while it ranks after the
        // entry.
        var j = 0u;
        loop {
            let l = 2u * j + 1u;
            if (l >= p.k) {
                break;
            }
            var c = l;
            var ce = partial[base + l];
            if (l + 1u < p.k) {
                let re = partial[base + l + 1u];
                if (beats(order_key(ce.y), ce.x, order_key(re.y), re.x)) {
                    c = l + 1u;
                    ce = re;
                }
            }
            if (!beats(key, d, order_key(ce.y), ce.x)) {
                break;
            }
            partial[base + j] = ce;
            j = c;
        }
        partial[base + j] = entry;
    }
}
