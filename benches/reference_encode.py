#!/usr/bin/env python3
"""sentence-transformers (PyTorch, CPU) encoding throughput on the texts benches/encode.rs uses:
xquad-en paragraphs ((title + " " + text).strip()) and questions, batch size 32, torch threads =
os.cpu_count() (as embeval's rayon). Median of 3 after a warm-up. JSON lines on stdout.

Usage: python3 benches/reference_encode.py MODEL_DIR [DATA_DIR]   (pip install sentence-transformers)
EMBEVAL_ENCODE_TEXTS=N times the first N texts of each list, EMBEVAL_ENCODE_JOIN=K joins every K
consecutive paragraphs with a space, EMBEVAL_ENCODE_MAX_LENGTH=L sets max_seq_length, as
benches/encode.rs does. EMBEVAL_ENCODE_DTYPE=f32|bf16|f16 loads the model in that dtype
(model_kwargs={"dtype": ...}).
"""
import json
import os
import statistics
import sys
import time

import torch
from sentence_transformers import SentenceTransformer

model_dir = sys.argv[1] if len(sys.argv) > 1 else "models/all-MiniLM-L6-v2"
data = sys.argv[2] if len(sys.argv) > 2 else os.path.join(os.path.dirname(__file__), "..", "..", "shared", "data", "xquad-en")
torch.set_num_threads(os.cpu_count())
dtype_name = os.environ.get("EMBEVAL_ENCODE_DTYPE", "f32")
dtype = {"f32": torch.float32, "bf16": torch.bfloat16, "f16": torch.float16}[dtype_name]
model = SentenceTransformer(model_dir, device="cpu", model_kwargs={"dtype": dtype})


def jsonl(name):
    with open(os.path.join(data, name), encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


docs = [(d.get("title", "") + " " + d["text"]).strip() for d in jsonl("corpus.jsonl")]
queries = [q["text"] for q in jsonl("queries.jsonl")]
limit = int(os.environ.get("EMBEVAL_ENCODE_TEXTS", "0")) or None
join = int(os.environ.get("EMBEVAL_ENCODE_JOIN", "1")) or 1
docs = [" ".join(docs[i:i + join]) for i in range(0, len(docs), join)]
if os.environ.get("EMBEVAL_ENCODE_MAX_LENGTH"):
    model.max_seq_length = int(os.environ["EMBEVAL_ENCODE_MAX_LENGTH"])
for what, texts in (("docs", docs[:limit]), ("queries", queries[:limit])):
    model.encode(texts[:32], batch_size=32)
    runs = []
    for _ in range(3):
        t = time.perf_counter()
        model.encode(texts, batch_size=32, convert_to_numpy=True)
        runs.append(time.perf_counter() - t)
    m = statistics.median(runs)
    print(json.dumps({"tool": "sentence-transformers", "model": os.path.basename(model_dir.rstrip("/")),
                      "what": f"encode {what}", "dtype": dtype_name, "texts": len(texts), "median_s": m,
                      "texts_per_s": len(texts) / m, "threads": torch.get_num_threads(),
                      "versions": {"sentence_transformers": __import__("sentence_transformers").__version__,
                                   "torch": torch.__version__}, "runs": runs}), flush=True)
