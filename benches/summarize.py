#!/usr/bin/env python3
"""Turns the JSON lines of benches/run.sh into the Markdown table of BENCHMARKS.md: medians of
each tool and the ratio reference time / embeval time (> 1 means embeval is faster)."""
import json
import sys

rows = [json.loads(l) for l in open(sys.argv[1]) if l.startswith("{")]
get = lambda tool, what: next((r for r in rows if r.get("tool") == tool and r.get("what") == what), None)

PAIRS = [
    ("parse qrels + run (10k x 1,000)", "metrics: parse qrels+run", [("pytrec_eval", "parse"), ("ranx", "load")]),
    ("evaluate, parsed (10k x 1,000)", "metrics: evaluate (parsed)", [("pytrec_eval", "evaluate"), ("ranx", "evaluate")]),
    ("parse + evaluate (10k x 1,000)", "metrics: parse + evaluate", [("pytrec_eval", "parse+evaluate")]),
    ("exact top-100, 256 x 8,192 x 384", "search top-100 256x8192x384", [("numpy", "matmul+top100 q256xd8192"), ("numpy", "matmul q256xd8192")]),
    ("exact top-100, 1,000 x 100,000 x 384", "search top-100 1000x100000x384", [("numpy", "matmul+top100 q1000xd100k"), ("numpy", "matmul q1000xd100k")]),
]

print("| task | embeval median (s) | reference | reference median (s) | ratio (ref / embeval) |")
print("|---|---:|---|---:|---:|")
for label, ours, refs in PAIRS:
    e = get("embeval", ours)
    for tool, what in refs:
        r = get(tool, what)
        if e and r:
            extra = ""
            if "gflops" in e and "gflops" in r:
                extra = f" (GFLOP/s: embeval {e['gflops']:.1f}, {tool} matmul {r['gflops']:.1f} = {e['gflops'] / r['gflops']:.0%})"
            print(f"| {label} | {e['median_s']:.3f} | {tool} {what} | {r['median_s']:.3f} | {r['median_s'] / e['median_s']:.1f}x{extra} |")
