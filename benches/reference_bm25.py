#!/usr/bin/env python3
"""Reference timings for BM25 with bm25s (method "lucene", k1 0.9, b 0.4: embeval's `--model bm25`).

Usage: python3 benches/reference_bm25.py DATA [--backend numba|numpy] [--threads N] [--k K]
       DATA: a BEIR folder (corpus.jsonl, queries.jsonl, qrels/test.tsv); judged queries only,
       documents as (title + " " + text).strip(), as embeval reads them.

Tokens come from tests/fixtures/bm25/make_fixture.py's tokenizer (embeval's documented one, in
pure Python: slow, so it is timed apart from bm25s). Phases, each wall-clock:
  tokenize   corpus and queries through that tokenizer (not bm25s's work)
  index      bm25s.BM25(...).index(corpus tokens)
  retrieve   retriever.retrieve(query tokens, k=K, n_threads=N) (top K per query, sorted),
             after an untimed call on 8 queries (numba compiles on the first)
Peak resident memory of the whole process (ru_maxrss) is printed too.
Prints one JSON line {"tool": "bm25s", ...}.
"""
import argparse
import importlib.util
import json
import os
import resource
import time

import bm25s
import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))


def fixture():
    """tests/fixtures/bm25/make_fixture.py: its tokenizer and BEIR reader."""
    path = os.path.join(HERE, "..", "tests", "fixtures", "bm25", "make_fixture.py")
    spec = importlib.util.spec_from_file_location("bm25_fixture", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("data")
    ap.add_argument("--backend", default="numba")
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--k", type=int, default=100)
    a = ap.parse_args()
    fx = fixture()
    docs, queries = ([text for _, text in rows] for rows in fx.beir(a.data))
    tokenize = fx.tokenize
    t = time.perf_counter()
    corpus_tokens = [tokenize(d) for d in docs]
    query_tokens = [tokenize(q) for q in queries]
    tokenize_s = time.perf_counter() - t
    t = time.perf_counter()
    retriever = bm25s.BM25(method="lucene", k1=0.9, b=0.4, backend=a.backend)
    retriever.index(corpus_tokens, show_progress=False)
    index_s = time.perf_counter() - t
    # A query none of whose terms is in the corpus gets no documents (as in embeval); bm25s
    # wants at least one known token.
    known = [[w for w in q if w in retriever.vocab_dict] for q in query_tokens]
    kept = [q for q in known if q]
    # numba compiles on the first call: warm up on a few queries, untimed.
    retriever.retrieve(kept[:8], k=min(a.k, len(docs)), n_threads=a.threads, show_progress=False)
    t = time.perf_counter()
    docs_found, scores = retriever.retrieve(kept, k=min(a.k, len(docs)), n_threads=a.threads, show_progress=False)
    retrieve_s = time.perf_counter() - t
    assert docs_found.shape == (len(kept), min(a.k, len(docs)))
    print(json.dumps({
        "tool": "bm25s",
        "version": bm25s.__version__,
        "backend": a.backend,
        "threads": a.threads,
        "docs": len(docs),
        "queries": len(queries),
        "queries_with_a_known_term": len(kept),
        "tokenize_s": round(tokenize_s, 3),
        "index_s": round(index_s, 3),
        "retrieve_s": round(retrieve_s, 3),
        "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "top_score_sum": float(np.asarray(scores)[:, 0].sum()),
    }))


if __name__ == "__main__":
    main()
