#!/usr/bin/env python3
"""The end-to-end dataset of benches/gpu/run.sh's `e2e` step: a BEIR folder with DOCS documents
and QUERIES queries built deterministically (seed 42) from jsquad-valid (../shared/data), so the
same folder comes out on every machine without downloading anything.

  corpus.jsonl   jsquad-valid's 1,145 paragraphs (the judged ones, ids unchanged), then
                 distractors `x0`, `x1`, ...: each a window of 10–30 characters (--chars; 20 on
                 average, ~30 tokens for the benchmark's tokenizers) at a random place in a
                 random paragraph — real Japanese text (5 in 6 distinct at a million), short enough that
                 a million of them encode in minutes on one GPU.
  queries.jsonl  jsquad-valid's 4,442 questions, cycled to QUERIES; a repeat gets the id
                 `QID-rN` and the same judgments.
  qrels/test.tsv the questions' judgments (one paragraph each), for every query.

The metrics are not the point (random-weight models rank at random); the data only has to be
real text of a realistic mix of lengths, in the layout both tools read.

Usage: python3 benches/gpu/make_e2e_data.py OUT_DIR [--docs 1000000] [--queries 10000] [--chars 10-30]
"""
import argparse
import json
import os
import random

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE = os.path.join(HERE, "..", "..", "..", "shared", "data", "jsquad-valid")


def main():
    p = argparse.ArgumentParser()
    p.add_argument("out")
    p.add_argument("--docs", type=int, default=1_000_000)
    p.add_argument("--queries", type=int, default=10_000)
    p.add_argument("--chars", default="10-30", help="distractor length range in characters")
    p.add_argument("--source", default=SOURCE, help="a BEIR folder (default: jsquad-valid)")
    a = p.parse_args()

    def jsonl(name):
        with open(os.path.join(a.source, name), encoding="utf-8") as f:
            return [json.loads(line) for line in f if line.strip()]

    paragraphs = jsonl("corpus.jsonl")
    questions = jsonl("queries.jsonl")
    judged = {}
    with open(os.path.join(a.source, "qrels", "test.tsv"), encoding="utf-8") as f:
        for line in list(f)[1:]:
            q, d, s = line.rstrip("\n").split("\t")
            judged.setdefault(q, []).append((d, s))
    if a.docs < len(paragraphs):
        p.error(f"--docs must be at least the {len(paragraphs)} judged paragraphs")
    shortest, longest = map(int, a.chars.split("-"))
    texts = [d["text"] for d in paragraphs if len(d["text"]) >= longest]

    rng = random.Random(42)
    os.makedirs(os.path.join(a.out, "qrels"), exist_ok=True)
    with open(os.path.join(a.out, "corpus.jsonl"), "w", encoding="utf-8") as f:
        for d in paragraphs:
            f.write(json.dumps({"_id": d["_id"], "title": d.get("title", ""), "text": d["text"]},
                               ensure_ascii=False) + "\n")
        for i in range(a.docs - len(paragraphs)):
            text, size = rng.choice(texts), rng.randint(shortest, longest)
            at = rng.randrange(len(text) - size + 1)
            text = text[at:at + size]
            f.write(json.dumps({"_id": f"x{i}", "title": "", "text": text}, ensure_ascii=False) + "\n")
    asked = [q for q in questions if q["_id"] in judged]
    with open(os.path.join(a.out, "queries.jsonl"), "w", encoding="utf-8") as f, \
            open(os.path.join(a.out, "qrels", "test.tsv"), "w", encoding="utf-8") as g:
        g.write("query-id\tcorpus-id\tscore\n")
        for i in range(a.queries):
            q = asked[i % len(asked)]
            repeat = i // len(asked)
            qid = q["_id"] if repeat == 0 else f"{q['_id']}-r{repeat}"
            f.write(json.dumps({"_id": qid, "text": q["text"]}, ensure_ascii=False) + "\n")
            for d, s in judged[q["_id"]]:
                g.write(f"{qid}\t{d}\t{s}\n")


if __name__ == "__main__":
    main()
