#!/usr/bin/env python3
"""Measure llama.cpp (through an installed llama-cpp-python) on the same
workload as `deepseek-cli bench`: one prompt of P tokens evaluated in one
batch, then B sequences decoded together for N steps (one token each per
step).  Prints two lines `prompt_tok_s X` and `decode_tok_s Y` (aggregate
over the B sequences).  llama.cpp is not a dependency of the project: this
script only runs where a Python with llama_cpp is given to scripts/bench.sh.
"""
import argparse
import ctypes
import os
import sys
import time

import llama_cpp as L


def make_ctx(model, n_ctx, n_seq, threads):
    p = L.llama_context_default_params()
    p.n_ctx = n_ctx
    p.n_batch = max(512, n_ctx)
    p.n_ubatch = 512
    p.n_seq_max = n_seq
    p.n_threads = threads
    p.n_threads_batch = threads
    ctx = L.llama_init_from_model(model, p)
    if not ctx:
        sys.exit("llama.cpp: cannot create context")
    return ctx


def decode(ctx, batch, entries):
    """entries: list of (token, pos, seq, want_logits)."""
    batch.n_tokens = len(entries)
    for i, (tok, pos, seq, lg) in enumerate(entries):
        batch.token[i] = tok
        batch.pos[i] = pos
        batch.n_seq_id[i] = 1
        batch.seq_id[i][0] = seq
        batch.logits[i] = 1 if lg else 0
    if L.llama_decode(ctx, batch) != 0:
        sys.exit("llama.cpp: llama_decode failed")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("model")
    ap.add_argument("--batch", type=int, default=1)
    ap.add_argument("--tokens", type=int, default=128)
    ap.add_argument("--prompt-tokens", type=int, default=512)
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    a = ap.parse_args()

    L.llama_backend_init()
    mp = L.llama_model_default_params()
    model = L.llama_model_load_from_file(a.model.encode(), mp)
    if not model:
        sys.exit("llama.cpp: cannot load model")
    n_ctx = (a.prompt_tokens + a.tokens + 8) * max(1, a.batch)
    ctx = make_ctx(model, n_ctx, a.batch, a.threads)
    batch = L.llama_batch_init(max(a.prompt_tokens, a.batch, 512), 0, a.batch)
    vocab = L.llama_model_get_vocab(model)
    n_vocab = L.llama_vocab_n_tokens(vocab)
    prompt = [(1000 + 37 * i) % n_vocab for i in range(a.prompt_tokens)]

    # prompt processing: one sequence, whole prompt in one batch (warm once)
    decode(ctx, batch, [(t, i, 0, i == len(prompt) - 1) for i, t in enumerate(prompt)])
    L.llama_memory_clear(L.llama_get_memory(ctx), True)
    t0 = time.perf_counter()
    decode(ctx, batch, [(t, i, 0, i == len(prompt) - 1) for i, t in enumerate(prompt)])
    t_prompt = time.perf_counter() - t0
    L.llama_memory_clear(L.llama_get_memory(ctx), True)

    # decode: B sequences, each with a 16-token prefix (as deepseek-cli bench), then N steps
    pre = 16
    for s in range(a.batch):
        decode(ctx, batch, [(prompt[i], i, s, i == pre - 1) for i in range(pre)])
    t0 = time.perf_counter()
    for step in range(a.tokens):
        decode(ctx, batch, [((500 + 7 * step + s) % n_vocab, pre + step, s, True) for s in range(a.batch)])
    t_dec = time.perf_counter() - t0
    print(f"prompt_tok_s {a.prompt_tokens / t_prompt:.1f}")
    print(f"decode_tok_s {a.batch * a.tokens / t_dec:.1f}")
    L.llama_batch_free(batch)
    L.llama_free(ctx)
    L.llama_model_free(model)


if __name__ == "__main__":
    main()
