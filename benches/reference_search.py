#!/usr/bin/env python3
"""Reference timings for exact (brute-force) dense search with numpy.

Usage: python3 benches/reference_search.py [DIR] [--repeats N]
       (DIR made by benches/make_bench_data.py; default /tmp/embeval-bench, N=5)

For (q256, d8192) and (q1000, d100k), float32, rows L2-normalized (dot = cosine):
  matmul        s = q @ d.T                         GFLOP/s = 2*nq*nd*dim / t
  matmul+top100 s = q @ d.T, then np.argpartition(-s, 99, axis=1)[:, :100] and a sort of
                those 100 by score desc (a full ranked top-100 per query)
numpy's BLAS threads are left as they are; the BLAS name, os.cpu_count() and (if
threadpoolctl is installed) its thread info are printed first.
Prints JSON lines {"tool":"numpy", "what":..., "median_s":..., "runs":[...], ...}.
"""
import contextlib
import io
import json
import os
import statistics
import sys
import time

import numpy as np

K = 100


def blas_info():
    info = {"numpy": np.__version__, "cpu_count": os.cpu_count()}
    try:
        cfg = np.show_config(mode="dicts")
        blas = cfg.get("Build Dependencies", {}).get("blas", {})
        info["blas"] = {k: blas.get(k) for k in ("name", "version", "openblas configuration")
                        if k in blas}
    except TypeError:  # numpy < 1.26: no mode=, parse the printed text
        buf = io.StringIO()
        with contextlib.redirect_stdout(buf):
            np.show_config()
        info["blas_text"] = buf.getvalue()[:2000]
    try:
        from threadpoolctl import threadpool_info
        info["threadpools"] = [{k: p.get(k) for k in
                                ("internal_api", "num_threads", "version", "architecture")}
                               for p in threadpool_info()]
    except ImportError:
        info["threadpools"] = "threadpoolctl not installed"
    for v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        if v in os.environ:
            info[v] = os.environ[v]
    return info


def topk(q, d, k):
    s = q @ d.T
    idx = np.argpartition(-s, k - 1, axis=1)[:, :k]
    part = np.take_along_axis(s, idx, axis=1)
    order = np.argsort(-part, axis=1, kind="stable")
    return np.take_along_axis(idx, order, axis=1), np.take_along_axis(part, order, axis=1)


def bench(fn, repeats):
    fn()  # warm-up (page faults, BLAS thread start-up)
    runs = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        runs.append(time.perf_counter() - t0)
    return runs


def main():
    args = sys.argv[1:]
    repeats = 5
    if "--repeats" in args:
        i = args.index("--repeats")
        repeats = int(args[i + 1])
        del args[i:i + 2]
    d = args[0] if args else "/tmp/embeval-bench"
    print(json.dumps({"info": "env", **blas_info()}), flush=True)
    for qn, dn in (("q256", "d8192"), ("q1000", "d100k")):
        q = np.load(os.path.join(d, qn + ".npy"))
        dm = np.load(os.path.join(d, dn + ".npy"))
        assert q.dtype == np.float32 and dm.dtype == np.float32
        nq, dim = q.shape
        nd = dm.shape[0]
        flop = 2.0 * nq * nd * dim
        runs = bench(lambda: q @ dm.T, repeats)
        med = statistics.median(runs)
        print(json.dumps({"tool": "numpy", "what": f"matmul {qn}x{dn}", "nq": nq, "nd": nd,
                          "dim": dim, "median_s": med, "gflops": flop / med / 1e9,
                          "runs": [round(r, 5) for r in runs]}), flush=True)
        runs = bench(lambda: topk(q, dm, K), repeats)
        med = statistics.median(runs)
        idx, sc = topk(q, dm, K)
        print(json.dumps({"tool": "numpy", "what": f"matmul+top{K} {qn}x{dn}", "nq": nq,
                          "nd": nd, "dim": dim, "k": K, "median_s": med,
                          "gflops_incl_topk": flop / med / 1e9,
                          "runs": [round(r, 5) for r in runs],
                          "check_q0_top3": [[int(i), float(s)] for i, s in
                                            zip(idx[0, :3], sc[0, :3])]}), flush=True)


if __name__ == "__main__":
    main()
