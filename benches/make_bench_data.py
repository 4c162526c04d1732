#!/usr/bin/env python3
"""Deterministic synthetic data for the embeval benchmarks (seed 42).

Usage: python3 benches/make_bench_data.py [DIR]      (default DIR=/tmp/embeval-bench)

Writes into DIR:
  qrels.trec   TREC qrels `qid 0 docid rel`, graded 0-3. Per query: 1-20 relevant docs
               (grade 1-3) plus 0-30 judged non-relevant docs (grade 0), all drawn from the
               query's pool of 2,000 candidate docs.
  run.trec     TREC run `qid Q0 docid rank score tag`: 10,000 queries x 1,000 docs (the top
               1,000 of the 2,000-doc pool, so some relevant docs are not retrieved). Scores
               are printed with 3 decimals, so ties occur (on average ~410 of a query's 1,000
               docs share their score with another doc, in ~185 tie groups); lines are
               ordered by score desc, doc id asc, ranks 1..1000.
  q256.npy     256 x 384 float32, rows L2-normalized     (search bench, small)
  d8192.npy    8192 x 384 float32, rows L2-normalized
  q1000.npy    1000 x 384 float32, rows L2-normalized    (search bench, large)
  d100k.npy    100000 x 384 float32, rows L2-normalized

Everything depends only on the seed, so two runs produce byte-identical files
(numpy's PCG64 default_rng stream; tested with numpy 2.x).
"""
import os
import sys
import time

import numpy as np

SEED = 42
N_QUERIES = 10_000
DEPTH = 1_000
POOL = 2_000
N_DOCS = 5_000_000          # global doc id space
DIM = 384


def write_trec(out_dir: str, rng: np.random.Generator) -> None:
    qrels_path = os.path.join(out_dir, "qrels.trec")
    run_path = os.path.join(out_dir, "run.trec")
    n_rel_total = n_judged_total = 0
    with open(qrels_path, "w") as fq, open(run_path, "w") as fr:
        for qi in range(N_QUERIES):
            qid = f"Q{qi:05d}"
            pool = rng.choice(N_DOCS, size=POOL, replace=False)
            n_rel = int(rng.integers(1, 21))
            n_non = int(rng.integers(0, 31))
            judged = rng.choice(POOL, size=n_rel + n_non, replace=False)
            grades = np.zeros(POOL, dtype=np.int64)
            grades[judged[:n_rel]] = rng.integers(1, 4, size=n_rel)
            # score: noise + a boost for relevant docs, rounded to 3 decimals (-> ties)
            raw = rng.standard_normal(POOL) + 0.8 * grades
            score = np.round(raw, 3)
            # sort by score desc, doc id asc
            order = np.lexsort((pool, -score))[:DEPTH]
            qlines = []
            for j in sorted(judged.tolist(), key=lambda j: pool[j]):
                qlines.append(f"{qid} 0 D{pool[j]:07d} {grades[j]}\n")
            fq.write("".join(qlines))
            n_rel_total += n_rel
            n_judged_total += n_rel + n_non
            rlines = [
                f"{qid} Q0 D{pool[j]:07d} {r} {score[j]:.3f} synth\n"
                for r, j in enumerate(order.tolist(), start=1)
            ]
            fr.write("".join(rlines))
    print(f"wrote {qrels_path} ({n_judged_total} judgments, {n_rel_total} relevant) "
          f"and {run_path} ({N_QUERIES * DEPTH} lines)")


def write_emb(out_dir: str, rng: np.random.Generator, name: str, n: int) -> None:
    x = rng.standard_normal((n, DIM), dtype=np.float32)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    np.save(os.path.join(out_dir, name), x.astype(np.float32, copy=False))
    print(f"wrote {name}: {x.shape} {x.dtype}")


def main() -> None:
    out_dir = sys.argv[1] if len(sys.argv) > 1 else "/tmp/embeval-bench"
    os.makedirs(out_dir, exist_ok=True)
    t0 = time.time()
    write_trec(out_dir, np.random.default_rng(SEED))
    emb_rng = np.random.default_rng([SEED, 1])
    for name, n in (("q256.npy", 256), ("d8192.npy", 8192),
                    ("q1000.npy", 1000), ("d100k.npy", 100_000)):
        write_emb(out_dir, emb_rng, name, n)
    print(f"done in {time.time() - t0:.1f}s -> {out_dir}")


if __name__ == "__main__":
    main()
