#!/usr/bin/env python3
"""Random-weight checkpoints in the shapes of the large models issue 6 benchmarks, made with HF
transformers and saved as sentence-transformers folders, for speed only (no real model of these
sizes can be downloaded on the machines this project runs on):

  qwen3-0.6b/   Qwen3-Embedding-0.6B's config (hidden 1024, 28 layers, 16 query / 8 key-value
                heads of 128, MLP 3072, vocab 151669, RoPE θ 1e6), last-token pooling, Normalize,
                left padding, max_seq_length 512 for the benchmark.
  xlmr-large/   bge-m3's XLM-RoBERTa large (hidden 1024, 24 layers, 16 heads, MLP 4096,
                vocab 250002, 8194 positions), CLS pooling, Normalize, max_seq_length 512.
  xlmr-base/    multilingual-e5-base's XLM-RoBERTa base (hidden 768, 12 layers, 12 heads, MLP
                3072, vocab 250002, 514 positions), mean pooling, Normalize: the CPU benchmark
                (benches/run_encode.sh), made only when named.
  modernbert-base/  ModernBERT-base's config (hidden 768, 22 layers, 12 heads, GeGLU MLP 1152,
                vocab 50368, global attention every 3rd layer, local window 128, RoPE θ 160000 /
                10000), mean pooling (as ruri-v3), Normalize: CPU benchmark, made only when named.
  qwen3-1layer/ 1024-dim vectors from a model cheap enough to encode 100,000 texts on a CPU (one
                Qwen3 layer, 8 query / 4 key-value heads of 128, MLP 256, the tiny tokenizer's
                1,000-token vocabulary): for the memory of streaming shard files of real-sized
                vectors (BENCHMARKS.md), made only when named.

The tokenizers are the tiny ones of tests/fixtures/tiny_models (a byte-level BPE for Qwen3 and a
Unigram for XLM-R, trained on this project's texts): token counts differ from the real models',
but both tools see the same tokens, which is what a throughput comparison needs. Vocabulary
sizes are the real ones, so the embedding tables weigh what they do in the real models.

Usage: python3 benches/gpu/make_checkpoints.py OUT_DIR [--tiny] [NAME ...]
  --tiny: 2-layer, 64-wide versions, to dry-run benches/gpu/run.sh on a CPU.
  NAME: make only these (default: qwen3-0.6b and xlmr-large, the GPU benchmark's).
"""
import json
import os
import shutil
import sys

import tempfile

import torch
from sentence_transformers import SentenceTransformer
try:
    from sentence_transformers.sentence_transformer.modules import Normalize, Pooling, Transformer
except ImportError:  # sentence-transformers < 6.1
    from sentence_transformers.models import Normalize, Pooling, Transformer
from transformers import AutoConfig, AutoModel, AutoTokenizer

HERE = os.path.dirname(os.path.abspath(__file__))
TINY = os.path.join(HERE, "..", "..", "tests", "fixtures", "tiny_models")

# What every XLM-RoBERTa shape below shares (the real models' vocabulary and special tokens).
XLMR = dict(model_type="xlm-roberta", vocab_size=250002, type_vocab_size=1, pad_token_id=1, bos_token_id=0,
            eos_token_id=2, layer_norm_eps=1e-5)
# What every Qwen3 shape below shares (Qwen3-Embedding's heads of 128, RoPE, norms, activation).
QWEN3 = dict(model_type="qwen3", head_dim=128, max_position_embeddings=32768, rope_theta=1000000.0, rms_norm_eps=1e-6,
             tie_word_embeddings=True, hidden_act="silu")

SHAPES = {
    "qwen3-0.6b": dict(
        source="qwen3-embedding",
        config=dict(QWEN3, hidden_size=1024, num_hidden_layers=28, num_attention_heads=16, num_key_value_heads=8,
                    intermediate_size=3072, vocab_size=151669),
        pooling="lasttoken",
    ),
    "xlmr-large": dict(
        source="xlm-roberta",
        config=dict(XLMR, hidden_size=1024, num_hidden_layers=24, num_attention_heads=16, intermediate_size=4096,
                    max_position_embeddings=8194),
        pooling="cls",
    ),
    "xlmr-base": dict(
        source="xlm-roberta",
        config=dict(XLMR, hidden_size=768, num_hidden_layers=12, num_attention_heads=12, intermediate_size=3072,
                    max_position_embeddings=514),
        pooling="mean",
    ),
    "modernbert-base": dict(
        source="modernbert",
        config=dict(model_type="modernbert", hidden_size=768, num_hidden_layers=22, num_attention_heads=12,
                    intermediate_size=1152, vocab_size=50368, max_position_embeddings=8192,
                    global_attn_every_n_layers=3, local_attention=128, global_rope_theta=160000.0,
                    local_rope_theta=10000.0, norm_eps=1e-5, pad_token_id=0),
        pooling="mean",
    ),
    "qwen3-1layer": dict(
        source="qwen3-embedding",
        config=dict(QWEN3, hidden_size=1024, num_hidden_layers=1, num_attention_heads=8, num_key_value_heads=4,
                    intermediate_size=256, vocab_size=1000),
        pooling="lasttoken",
    ),
}
GPU_BENCHMARK = ["qwen3-0.6b", "xlmr-large"]
TINY_OVERRIDES = dict(hidden_size=64, num_hidden_layers=2, num_attention_heads=4, intermediate_size=128)


def make(name, spec, out, tiny):
    cfg = dict(spec["config"])
    if tiny:
        cfg.update(TINY_OVERRIDES)
        if cfg["model_type"] == "qwen3":
            cfg.update(num_key_value_heads=2, head_dim=16)
    model_type = cfg.pop("model_type")
    config = AutoConfig.for_model(model_type, **cfg)
    torch.manual_seed(0)
    model = AutoModel.from_config(config)
    folder = os.path.join(out, name)
    tok = AutoTokenizer.from_pretrained(os.path.join(TINY, spec["source"]))
    tok.model_max_length = 512
    with tempfile.TemporaryDirectory() as tmp:
        model.save_pretrained(tmp)
        tok.save_pretrained(tmp)
        # 512 tokens at most, as the seeds' evaluations; Qwen3's tokenizer pads on the left.
        tr = Transformer(tmp, max_seq_length=512)
        st = SentenceTransformer(modules=[tr, Pooling(config.hidden_size, pooling_mode=spec["pooling"]), Normalize()],
                                 device="cpu")
        shutil.rmtree(folder, ignore_errors=True)
        st.save(folder)
    n = sum(p.numel() for p in model.parameters())
    print(json.dumps({"made": folder, "parameters": n, "config": cfg}), flush=True)


def main():
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    out, tiny = sys.argv[1], "--tiny" in sys.argv[2:]
    names = [a for a in sys.argv[2:] if a != "--tiny"] or GPU_BENCHMARK
    unknown = [n for n in names if n not in SHAPES]
    if unknown:
        sys.exit(f"unknown checkpoint {unknown}: choose from {list(SHAPES)}")
    os.makedirs(out, exist_ok=True)
    for name in names:
        make(name, SHAPES[name], out, tiny)


if __name__ == "__main__":
    main()
