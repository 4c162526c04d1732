#!/usr/bin/env python3
"""Reference timings for metric evaluation: pytrec_eval and ranx on the synthetic benchmark.

Usage: python3 benches/reference_metrics.py [DIR] [--repeats N]
       (DIR made by benches/make_bench_data.py; default /tmp/embeval-bench, N=5)

Needs: pip install pytrec-eval-terrier ranx numpy

Prints one JSON line per measurement:
  {"tool": ..., "what": ..., "median_s": ..., "runs": [...]}
and one JSON line per tool with its mean nDCG@10 (and friends) to cross-check values.

What is timed (each repeated N times, median reported):
  pytrec_eval / parse             reading qrels.trec + run.trec into dict-of-dicts (plain Python)
  pytrec_eval / evaluate          RelevanceEvaluator(qrels, measures).evaluate(run), dicts ready
  pytrec_eval / parse+evaluate    both of the above, end to end
  ranx / load                     Qrels.from_file + Run.from_file (kind="trec"), after one
                                  untimed warm-up call (its time, which includes numba JIT
                                  compilation, is reported as first_call_incl_jit_s)
  ranx / evaluate                 ranx.evaluate(qrels, run, metrics) on loaded Qrels/Run objects,
                                  after one untimed warm-up call (numba JIT compilation;
                                  reported as first_call_incl_jit_s);
                                  save_results_in_run=False
Freeing the previous repetition's dicts is kept out of the timed region; Python's cyclic GC
stays enabled (as in a normal script), so parse times include its collections.
Threads: pytrec_eval is single-threaded; ranx uses numba's threads (NUMBA_NUM_THREADS, default
= all cores) -- reported in the output.
"""
import json
import os
import statistics
import sys
import time

PYTREC_MEASURES = {"ndcg_cut.10,100", "map_cut.100", "recip_rank", "P.10", "recall.10,100"}
RANX_METRICS = ["ndcg@10", "ndcg@100", "map@100", "mrr@10", "precision@10", "recall@10",
                "recall@100"]


def parse_qrels(path):
    qrels = {}
    with open(path) as f:
        for line in f:
            parts = line.split()
            if len(parts) < 4:
                continue
            qrels.setdefault(parts[0], {})[parts[2]] = int(parts[3])
    return qrels


def parse_run(path):
    run = {}
    with open(path) as f:
        for line in f:
            parts = line.split()
            if len(parts) < 6:
                continue
            run.setdefault(parts[0], {})[parts[2]] = float(parts[4])
    return run


def timed(fn, repeats, warmup=False):
    """Returns (times, last result, warm-up time or None)."""
    warm_s = None
    if warmup:
        t0 = time.perf_counter()
        fn()
        warm_s = time.perf_counter() - t0
    runs, result = [], None
    for _ in range(repeats):
        t0 = time.perf_counter()
        r = fn()
        runs.append(time.perf_counter() - t0)
        result = r  # the previous result is freed here, outside the timed region
        del r
    return runs, result, warm_s


def emit(tool, what, runs, **extra):
    rec = {"tool": tool, "what": what, "median_s": statistics.median(runs),
           "runs": [round(r, 4) for r in runs]}
    rec.update(extra)
    print(json.dumps(rec), flush=True)


def mean(vals):
    vals = list(vals)
    return sum(vals) / len(vals)


def main():
    args = [a for a in sys.argv[1:]]
    repeats = 5
    if "--repeats" in args:
        i = args.index("--repeats")
        repeats = int(args[i + 1])
        del args[i:i + 2]
    d = args[0] if args else "/tmp/embeval-bench"
    qrels_path = os.path.join(d, "qrels.trec")
    run_path = os.path.join(d, "run.trec")
    print(json.dumps({"info": "env", "cpu_count": os.cpu_count(), "dir": d,
                      "repeats": repeats}), flush=True)

    # ---------------- pytrec_eval ----------------
    import pytrec_eval
    from importlib.metadata import version

    def do_parse():
        return parse_qrels(qrels_path), parse_run(run_path)

    runs, (qrels, run), _ = timed(do_parse, repeats)
    n_pairs = sum(len(v) for v in run.values())
    emit("pytrec_eval", "parse", runs, queries=len(run), pairs=n_pairs)

    def do_eval():
        return pytrec_eval.RelevanceEvaluator(qrels, PYTREC_MEASURES).evaluate(run)

    runs, res, _ = timed(do_eval, repeats)
    emit("pytrec_eval", "evaluate", runs, version=version("pytrec-eval-terrier"),
         measures=sorted(PYTREC_MEASURES))
    means = {m: mean(v[m] for v in res.values()) for m in next(iter(res.values()))}
    print(json.dumps({"tool": "pytrec_eval", "values": "mean over %d queries" % len(res),
                      **{k: means[k] for k in sorted(means)}}), flush=True)
    del res

    def do_parse_eval():
        q, r = parse_qrels(qrels_path), parse_run(run_path)
        # return the inputs too, so that freeing them is not timed
        return q, r, pytrec_eval.RelevanceEvaluator(q, PYTREC_MEASURES).evaluate(r)

    del qrels, run
    runs, last, _ = timed(do_parse_eval, repeats)
    del last
    emit("pytrec_eval", "parse+evaluate", runs)

    # ---------------- ranx ----------------
    import numba
    from ranx import Qrels, Run, evaluate

    def do_load():
        return Qrels.from_file(qrels_path, kind="trec"), Run.from_file(run_path, kind="trec")

    runs, (rq, rr), warm = timed(do_load, repeats, warmup=True)
    emit("ranx", "load", runs, version=version("ranx"), first_call_incl_jit_s=round(warm, 4))

    def do_ranx():
        return evaluate(rq, rr, RANX_METRICS, save_results_in_run=False)

    runs, res, warm = timed(do_ranx, repeats, warmup=True)
    emit("ranx", "evaluate", runs, metrics=RANX_METRICS, first_call_incl_jit_s=round(warm, 4),
         numba_threads=numba.config.NUMBA_NUM_THREADS)
    print(json.dumps({"tool": "ranx", "values": "mean over %d queries" % len(rr),
                      **{k: float(v) for k, v in res.items()}}), flush=True)


if __name__ == "__main__":
    main()
