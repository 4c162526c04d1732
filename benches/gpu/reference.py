#!/usr/bin/env python3
"""The references for benches/gpu/run.sh, measured on the same machine in the same run:

  encode MODEL_DIR DATA_DIR --device cuda --dtype bf16 [--batch 32]
      sentence-transformers (PyTorch) encoding the corpus of DATA_DIR (BEIR corpus.jsonl,
      (title + " " + text).strip()) in `dtype`, batch size 32, max_seq_length as the folder
      says: median of 3 after a warm-up. Tokens are counted with the model's tokenizer after
      truncation, special tokens included (embeval's `tokens` count).
  parity MODEL_DIR DATA_DIR SHARD --device cuda --dtype f32
      sentence-transformers' vectors for the same corpus, in that dtype, against the `docs` of an
      `embeval encode --shard 0/1` file: worst cosine and max |diff| over all documents.
  search NQ ND DIM --device cuda
      torch.topk(q @ d.T, 100) on random unit vectors, f32, queries in chunks of 1000 so the
      score block fits; the time includes the chunks' top-k, as embeval's exact search.
  e2e MODEL_DIR DATA_DIR --device cuda --dtype bf16 [--batch 32]
      what `embeval eval` does, once, in PyTorch: load the model and the BEIR folder, encode the
      queries and the corpus with sentence-transformers (vectors stay on the device), exact
      top-100 by cosine in f32 (torch.topk(q @ d.T) per 1000 queries), nDCG@10 (trec_eval's
      formula) from the qrels. Each phase's seconds and the total from before the model load.

One JSON line per measurement on stdout.
"""
import argparse
import json
import math
import os
import statistics
import time

import torch


def sync(device):
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def median_of_3(f, device):
    f()
    sync(device)
    runs = []
    for _ in range(3):
        t = time.perf_counter()
        f()
        sync(device)
        runs.append(time.perf_counter() - t)
    return statistics.median(runs), runs


def model_in(a):
    """The model folder on `a.device` in `a.dtype`."""
    from sentence_transformers import SentenceTransformer
    dtype = {"f32": torch.float32, "f16": torch.float16, "bf16": torch.bfloat16}[a.dtype]
    return SentenceTransformer(a.model, device=a.device).to(dtype)


def jsonl(data, name):
    with open(os.path.join(data, name), encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def corpus(data):
    """The BEIR corpus and its texts as both tools read them: (title + " " + text).strip()."""
    docs = jsonl(data, "corpus.jsonl")
    return docs, [(d.get("title", "") + " " + d["text"]).strip() for d in docs]


def load(a):
    return (model_in(a), *corpus(a.data))


def parity(a):
    from safetensors.numpy import load_file
    model, docs, texts = load(a)
    want = model.encode(texts, batch_size=32, convert_to_tensor=True).float().cpu()
    shard = load_file(a.shard)
    got = torch.from_numpy(shard["docs"])
    ids, offsets = bytes(shard["doc_ids"]), shard["doc_id_offsets"]
    got_ids = [ids[offsets[i]:offsets[i + 1]].decode() for i in range(len(offsets) - 1)]
    assert got_ids == [d["_id"] for d in docs], "the shard's ids are not the corpus's, in order"
    cos = torch.nn.functional.cosine_similarity(got, want, dim=1)
    print(json.dumps({"check": "parity with sentence-transformers", "model": os.path.basename(a.model.rstrip("/")),
                      "embeval": a.label, "dtype": a.dtype, "device": a.device, "texts": len(texts),
                      "worst_cosine": cos.min().item(), "mean_cosine": cos.mean().item(),
                      "max_abs_diff": (got - want).abs().max().item()}), flush=True)


def encode(a):
    model, _, texts = load(a)
    tok = model.tokenizer
    tokens = sum(len(tok(t, truncation=True, max_length=model.max_seq_length)["input_ids"]) for t in texts)
    m, runs = median_of_3(lambda: model.encode(texts, batch_size=a.batch, convert_to_numpy=True), a.device)
    name = torch.cuda.get_device_name() if a.device.startswith("cuda") else "cpu"
    print(json.dumps({"tool": "sentence-transformers", "model": os.path.basename(a.model.rstrip("/")),
                      "dtype": a.dtype, "device": name, "texts": len(texts), "tokens": tokens,
                      "median_s": m, "tokens_per_s": tokens / m, "texts_per_s": len(texts) / m,
                      "batch_size": a.batch, "runs": runs,
                      "attn_implementation": getattr(model[0].auto_model.config, "_attn_implementation", None),
                      "versions": {"sentence_transformers": __import__("sentence_transformers").__version__,
                                   "torch": torch.__version__}}), flush=True)


def search(a):
    g = torch.Generator(device=a.device).manual_seed(0)
    q = torch.nn.functional.normalize(torch.rand(a.nq, a.dim, device=a.device, generator=g) - 0.5, dim=1)
    d = torch.nn.functional.normalize(torch.rand(a.nd, a.dim, device=a.device, generator=g) - 0.5, dim=1)

    def run():
        for s in range(0, a.nq, 1000):
            torch.topk(q[s:s + 1000] @ d.T, 100, dim=1)

    m, runs = median_of_3(run, a.device)
    print(json.dumps({"tool": "torch", "what": f"top-100 {a.nq}x{a.nd}x{a.dim}", "device": a.device,
                      "median_s": m, "gflops": 2 * a.nq * a.nd * a.dim / m / 1e9, "runs": runs,
                      "torch": torch.__version__}), flush=True)


def e2e(a):
    start = time.perf_counter()
    phases = {}

    def phase(name, f):
        t = time.perf_counter()
        out = f()
        sync(a.device)
        phases[name] = time.perf_counter() - t
        return out

    model = phase("load_s", lambda: model_in(a))

    def read():
        docs, texts = corpus(a.data)
        qrels = {}
        with open(os.path.join(a.data, "qrels", "test.tsv"), encoding="utf-8") as f:
            for line in list(f)[1:]:
                q, d, s = line.rstrip("\n").split("\t")
                qrels.setdefault(q, {})[d] = int(s)
        return docs, texts, [q for q in jsonl(a.data, "queries.jsonl") if q["_id"] in qrels], qrels

    docs, texts, queries, qrels = phase("data_s", read)
    encode = lambda texts: model.encode(texts, batch_size=a.batch, convert_to_tensor=True)
    q = phase("encode_queries_s", lambda: encode([x["text"] for x in queries]))
    d = phase("encode_docs_s", lambda: encode(texts))

    def search():
        qn = torch.nn.functional.normalize(q.float(), dim=1)
        dn = torch.nn.functional.normalize(d.float(), dim=1)
        top = [torch.topk(qn[s:s + 1000] @ dn.T, 100, dim=1).indices.cpu() for s in range(0, len(qn), 1000)]
        return torch.cat(top).tolist()

    top = phase("search_s", search)

    def ndcg10():
        ids = [x["_id"] for x in docs]
        total = 0.0
        for query, ranked in zip(queries, top):
            rel = qrels[query["_id"]]
            dcg = sum(max(rel.get(ids[j], 0), 0) / math.log2(r + 2) for r, j in enumerate(ranked[:10]))
            ideal = sorted((g for g in rel.values() if g > 0), reverse=True)[:10]
            idcg = sum(g / math.log2(r + 2) for r, g in enumerate(ideal))
            total += dcg / idcg if idcg > 0 else 0.0
        return total / len(queries)

    ndcg = phase("metrics_s", ndcg10)
    name = torch.cuda.get_device_name() if a.device.startswith("cuda") else "cpu"
    print(json.dumps({"tool": "sentence-transformers + torch.topk", "what": "e2e",
                      "model": os.path.basename(a.model.rstrip("/")), "dtype": a.dtype, "device": name,
                      "queries": len(queries), "docs": len(docs), "dim": d.shape[1], "batch_size": a.batch,
                      "total_s": time.perf_counter() - start, **phases, "ndcg@10": ndcg,
                      "versions": {"sentence_transformers": __import__("sentence_transformers").__version__,
                                   "torch": torch.__version__}}), flush=True)


def main():
    p = argparse.ArgumentParser()
    sub = p.add_subparsers(dest="cmd", required=True)

    def model_step(name, dtype, *extra):
        """A step over a model folder and a BEIR folder (and `extra` positionals) in `dtype`."""
        step = sub.add_parser(name)
        for positional in ("model", "data", *extra):
            step.add_argument(positional)
        step.add_argument("--device", default="cuda")
        step.add_argument("--dtype", default=dtype, choices=["f32", "f16", "bf16"])
        return step

    model_step("encode", "bf16").add_argument("--batch", type=int, default=32)
    model_step("parity", "f32", "shard").add_argument("--label", default="", help="how embeval ran (recorded with the result)")
    model_step("e2e", "bf16").add_argument("--batch", type=int, default=32)
    s = sub.add_parser("search")
    s.add_argument("nq", type=int)
    s.add_argument("nd", type=int)
    s.add_argument("dim", type=int)
    s.add_argument("--device", default="cuda")
    a = p.parse_args()
    {"encode": encode, "parity": parity, "search": search, "e2e": e2e}[a.cmd](a)


if __name__ == "__main__":
    main()
