#!/usr/bin/env python3
"""Exports a sentence-transformers BERT folder (default models/all-MiniLM-L6-v2) to ONNX in the
layout transformers.js reads, for benches/web/bench.mjs:

  OUT/<name>/onnx/model.onnx      fp32; inputs input_ids, attention_mask, token_type_ids (int64,
                                  dynamic batch and sequence); output last_hidden_state
  OUT/<name>/config.json          copied from the folder
  OUT/<name>/tokenizer.json       the folder's, with its fixed 128-token padding and truncation
                                  removed (transformers.js pads to the longest text itself)
  OUT/<name>/tokenizer_config.json  the folder's, with model_max_length set to the folder's
                                  max_seq_length (256 for MiniLM), so both tools truncate where
                                  sentence-transformers does

Pooling (mean over real tokens) and normalisation are the caller's: transformers.js's
feature-extraction pipeline with {pooling: 'mean', normalize: true}.

Checks before writing: ONNX Runtime (CPU), when installed, on a few padded texts gives
PyTorch's last_hidden_state to 1e-4.

Usage (from the repo root; ~1 min):
  pip install onnx onnxscript onnxruntime    # onnxruntime only for the check
  python3 benches/export_onnx.py [--model models/all-MiniLM-L6-v2] [--out benches/web/onnx-models]
"""

import argparse
import json
import os
import shutil

import torch
from transformers import AutoModel, AutoTokenizer


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="models/all-MiniLM-L6-v2")
    ap.add_argument("--out", default="benches/web/onnx-models")
    ap.add_argument("--opset", type=int, default=17)
    args = ap.parse_args()

    name = os.path.basename(os.path.normpath(args.model))
    out = os.path.join(args.out, name)
    os.makedirs(os.path.join(out, "onnx"), exist_ok=True)

    st_config = {}
    st_path = os.path.join(args.model, "sentence_bert_config.json")
    if os.path.exists(st_path):
        with open(st_path) as f:
            st_config = json.load(f)
    max_seq_length = st_config.get("max_seq_length", 512)

    # Eager attention: plain MatMul/Softmax ops that every ONNX Runtime build runs.
    model = AutoModel.from_pretrained(args.model, attn_implementation="eager").eval()
    tok = AutoTokenizer.from_pretrained(args.model)
    sample = tok(["a short text", "a somewhat longer text, so the batch is padded"], padding=True, return_tensors="pt")
    inputs = (sample["input_ids"], sample["attention_mask"], sample["token_type_ids"])

    class Wrapper(torch.nn.Module):
        def __init__(self, m):
            super().__init__()
            self.m = m

        def forward(self, input_ids, attention_mask, token_type_ids):
            return self.m(input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids).last_hidden_state

    path = os.path.join(out, "onnx", "model.onnx")
    axes = {"input_ids": {0: "batch", 1: "sequence"}, "attention_mask": {0: "batch", 1: "sequence"},
            "token_type_ids": {0: "batch", 1: "sequence"}, "last_hidden_state": {0: "batch", 1: "sequence"}}
    with torch.no_grad():
        # The reference first: after tracing, the model's own output is not trustworthy
        # (measured 5.4 max |diff| with transformers 5.23 when computed after the export).
        want = Wrapper(model)(*inputs).numpy()
        torch.onnx.export(Wrapper(model), inputs, path, input_names=list(axes)[:3], output_names=["last_hidden_state"],
                          dynamic_axes=axes, opset_version=args.opset, dynamo=False)

    try:
        import onnxruntime as ort
    except ImportError:
        print("export_onnx: onnxruntime not installed; skipping the check")
    else:
        sess = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
        got = sess.run(None, {k: v.numpy() for k, v in zip(list(axes)[:3], inputs)})[0]
        diff = float(abs(got - want).max())
        print(f"export_onnx: ONNX Runtime vs PyTorch max |diff| {diff:.2e}")
        assert diff < 1e-4, diff

    shutil.copy(os.path.join(args.model, "config.json"), out)
    with open(os.path.join(args.model, "tokenizer.json")) as f:
        tokenizer = json.load(f)
    tokenizer["padding"] = None
    tokenizer["truncation"] = None
    with open(os.path.join(out, "tokenizer.json"), "w") as f:
        json.dump(tokenizer, f, ensure_ascii=False)
    with open(os.path.join(args.model, "tokenizer_config.json")) as f:
        tcfg = json.load(f)
    tcfg["model_max_length"] = max_seq_length
    with open(os.path.join(out, "tokenizer_config.json"), "w") as f:
        json.dump(tcfg, f, ensure_ascii=False, indent=1)
    print(f"export_onnx: wrote {out} ({os.path.getsize(path) / 2**20:.1f} MiB model.onnx, max length {max_seq_length})")


if __name__ == "__main__":
    main()
