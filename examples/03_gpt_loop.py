"""A GPT training loop with nothing hidden: no Trainer, every step written out.

The model starts knowing nothing, so its first loss is close to ln(V), the cross-entropy of a
uniform guess over the V characters; the printed loss falls from there as it learns the Python
docs. This is ``minillm train`` without the checkpoints, evaluation and failure handling that
``minillm/training/trainer.py`` adds around the same five lines per step.

Run:  python examples/03_gpt_loop.py     (about half a minute on two cores)
"""

from __future__ import annotations

import math
import os

import numpy as np

import minillm
from minillm import nn
from minillm.data.corpus import load_corpus
from minillm.data.windows import random_windows, split_by_position
from minillm.models import GPT, GPTConfig
from minillm.optim.lr_scheduler import warmup_cosine
from minillm.tokenizers import CharTokenizer

STEPS = 30 if os.environ.get("MINILLM_SMOKE") else 300
B, T, LR = 16, 64, 3e-3

text = load_corpus().text[:400_000]
tokenizer = CharTokenizer.from_text(text)
ids = np.asarray(tokenizer.encode(text), dtype=np.int64)
train, val = split_by_position(ids, 0.1)

minillm.manual_seed(0)
model = GPT(GPTConfig(vocab_size=tokenizer.vocab_size, block_size=T, n_layer=2, n_head=4,
                      n_embd=64))  # fmt: skip
optimizer = model.configure_optimizers(weight_decay=0.1, lr=LR)
print(f"{model.num_parameters():,} parameters, vocabulary V = {tokenizer.vocab_size}: "
      f"a uniform guess scores ln V = {math.log(tokenizer.vocab_size):.3f}")  # fmt: skip

for step in range(STEPS):
    lr = warmup_cosine(step, LR, warmup_steps=30, max_steps=STEPS, min_lr=LR / 10)
    for group in optimizer.param_groups:
        group["lr"] = lr
    x, y = random_windows(train, B, T)  # (B, T) inputs, and the same shifted by one
    _, loss = model(x, y)  # forward: logits (B, T, V) and their cross-entropy
    loss.backward()  # every parameter's .grad
    norm = nn.utils.clip_grad_norm_(model.parameters(), 1.0)
    optimizer.step()  # AdamW
    optimizer.zero_grad(set_to_none=True)
    if step % (STEPS // 10) == 0 or step == STEPS - 1:
        print(f"step {step:4d}  loss {loss.item():.3f}  lr {lr:.2e}  grad norm {float(norm):.2f}")

model.eval()
with minillm.no_grad():
    x, y = random_windows(val, B, T, minillm.random.generator())
    print(f"validation loss {model(x, y)[1].item():.3f} (from ln V = "
          f"{math.log(tokenizer.vocab_size):.3f})")  # fmt: skip
