"""Make a tiny GPT-2 in a folder, offline: the model the engine suite serves with the real vLLM.

Runs with the engine venv's Python (tests/engine/setup.sh), which has torch, transformers and
tokenizers; the project's own environment has none of them.

    python make_model.py OUT_DIR --chat-template-file template.jinja

- a byte-level BPE tokenizer trained by `tokenizers` on a few KB of chat transcripts written here;
- a GPT-2 of 2 layers, 64 wide, 1024 positions, seeded, then trained for about 13 s on the same
  transcripts, so that, like distilgpt2 behind the dev stack's template, it writes both sides of a
  chat (`User: …` / `Assistant: …`) and the proxy's stop sequences have something to stop;
- the chat template given (the dev stack's, which ignores `tools`), saved with the tokenizer.

Nothing is downloaded and nothing binary is committed: the folder is made anew for each test session.
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from pathlib import Path

QUESTIONS = (
    "what is the weather in paris what is the capital of france how are you today what time is it "
    "can you count to five tell me a short story what is two plus two write a poem about the sea"
)
ANSWERS = (
    "paris is the capital of france I am fine thank you it is noon one two three four five "
    "once upon a time a cat sat on a mat and the sun was warm two plus two is four roses are red"
)


def transcripts(count: int, seed: int = 7) -> str:
    """Chats in the dev template's shape, `User: …?\nAssistant: ….\n`: a question ends with `?` and the
    next line is the assistant's; an answer ends with `.` and the next line is the user's."""
    rng = random.Random(seed)
    question_words, answer_words = QUESTIONS.split(), ANSWERS.split()
    chats = []
    for _ in range(count):
        turns = []
        for _ in range(rng.randint(2, 4)):
            question = " ".join(rng.choices(question_words, k=rng.randint(3, 8)))
            answer = " ".join(rng.choices(answer_words, k=rng.randint(3, 10)))
            turns.append(f"User: {question}?\nAssistant: {answer}.\n")
        chats.append("".join(turns))
    return "\n".join(chats)


def make_tokenizer(corpus: str, out: Path, chat_template: str):
    from tokenizers import ByteLevelBPETokenizer
    from transformers import GPT2TokenizerFast

    trainer = ByteLevelBPETokenizer()
    trainer.train_from_iterator([corpus], vocab_size=600, min_frequency=2, special_tokens=["<|endoftext|>"])
    trainer.save(str(out / "tokenizer.json"))
    tokenizer = GPT2TokenizerFast(tokenizer_file=str(out / "tokenizer.json"), model_max_length=1024)
    tokenizer.eos_token = tokenizer.bos_token = tokenizer.unk_token = "<|endoftext|>"
    tokenizer.chat_template = chat_template
    tokenizer.save_pretrained(out)
    return tokenizer


def make_model(tokenizer, corpus: str, out: Path, steps: int) -> None:
    import torch
    from transformers import GPT2Config, GPT2LMHeadModel

    # One thread: the model is tiny, and two OpenMP threads on a busy 2-core machine spin (10 s becomes 75 s).
    torch.set_num_threads(1)
    torch.manual_seed(0)
    config = GPT2Config(
        vocab_size=len(tokenizer),
        n_positions=1024,
        n_embd=64,
        n_layer=2,
        n_head=2,
        bos_token_id=tokenizer.eos_token_id,
        eos_token_id=tokenizer.eos_token_id,
    )
    model = GPT2LMHeadModel(config)
    train(model, tokenizer, corpus, out, steps)


def train(model, tokenizer, corpus: str, out: Path, steps: int) -> None:
    """`steps` steps of next-token training on random 128-token windows of `corpus`; the model saved to `out`."""
    import torch

    ids = torch.tensor(tokenizer(corpus)["input_ids"])
    window, batch = 128, 16
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3)
    model.train()
    started = time.monotonic()
    for _ in range(steps):
        starts = torch.randint(0, len(ids) - window, (batch,))
        inputs = torch.stack([ids[s : s + window] for s in starts.tolist()])
        loss = model(inputs, labels=inputs).loss
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
    model.eval()
    model.save_pretrained(out)
    print(f"{out.name}: {steps} steps in {time.monotonic() - started:.1f} s, loss {loss.item():.2f}", file=sys.stderr)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path, help="folder to write the model and tokenizer to")
    parser.add_argument("--chat-template-file", type=Path, required=True)
    parser.add_argument("--steps", type=int, default=200, help="training steps (default 200, about 13 s)")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    corpus = transcripts(400)
    tokenizer = make_tokenizer(corpus, args.out, args.chat_template_file.read_text())
    make_model(tokenizer, corpus, args.out, args.steps)
    return 0


if __name__ == "__main__":
    sys.exit(main())
