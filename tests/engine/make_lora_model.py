"""Make a tiny Llama and two LoRA adapters for it, offline: what the engine suite serves to test `adapters`.

Runs with the engine venv's Python (tests/engine/setup.sh), like make_model.py, whose tokenizer and chat
transcripts it shares:

    python make_lora_model.py OUT_DIR --chat-template-file template.jinja

- OUT_DIR/base: a Llama of 2 layers, 64 wide, one head of 64 (vLLM's CPU attention refuses a head_dim of 16
  with "Unsupported CPU attention configuration"), trained for a few seconds on the transcripts;
- OUT_DIR/adapters/<name>/: a PEFT LoRA adapter written by hand (no peft needed): `adapter_config.json` and
  `adapter_model.safetensors` with PEFT's names (`base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight`);
- OUT_DIR/adapters/<name>.tar.gz: the same files at the archive's root, as an adapter component's ArtifactUrl
  wants them (docs/adapters.md packs them the same way).

The adapters' weights are large on purpose, and checked here: at temperature 0 each one's text differs from the
base's and from the other's.
"""

from __future__ import annotations

import argparse
import json
import sys
import tarfile
from pathlib import Path

from make_model import make_tokenizer, train, transcripts

# Two adapters of different ranks; both within vLLM's default --max-lora-rank (16), as the stack's maxLoraRank.
ADAPTERS = {"tiny-support": 8, "tiny-legal": 16}
TARGET_MODULES = ("q_proj", "k_proj", "v_proj", "o_proj")
CHECK_PROMPT = "User: what is the capital of france?\nAssistant:"


def make_base(tokenizer, corpus: str, out: Path, steps: int):
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.set_num_threads(1)  # see make_model.py: two threads on a busy 2-core machine spin
    torch.manual_seed(0)
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=1,
        num_key_value_heads=1,
        max_position_embeddings=1024,
        bos_token_id=tokenizer.eos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        tie_word_embeddings=False,
    )
    model = LlamaForCausalLM(config)
    train(model, tokenizer, corpus, out, steps)
    return model


def lora_weights(model, rank: int, seed: int) -> dict:
    """PEFT's tensors for a rank-`rank` LoRA on the attention projections of every layer, seeded."""
    import torch

    generator = torch.Generator().manual_seed(seed)
    tensors = {}
    for index, layer in enumerate(model.model.layers):
        for module in TARGET_MODULES:
            linear = getattr(layer.self_attn, module)
            prefix = f"base_model.model.model.layers.{index}.self_attn.{module}"
            tensors[f"{prefix}.lora_A.weight"] = torch.randn(rank, linear.in_features, generator=generator) * 0.5
            tensors[f"{prefix}.lora_B.weight"] = torch.randn(linear.out_features, rank, generator=generator) * 0.5
    return tensors


def write_adapter(folder: Path, base_dir: Path, rank: int, tensors: dict) -> Path:
    """The adapter's folder and its .tar.gz beside it, the files at the archive's root."""
    from safetensors.torch import save_file

    folder.mkdir(parents=True, exist_ok=True)
    config = {
        "peft_type": "LORA",
        "task_type": "CAUSAL_LM",
        "base_model_name_or_path": str(base_dir),
        "r": rank,
        "lora_alpha": rank,
        "lora_dropout": 0.0,
        "target_modules": list(TARGET_MODULES),
        "bias": "none",
        "fan_in_fan_out": False,
        "modules_to_save": None,
        "inference_mode": True,
    }
    (folder / "adapter_config.json").write_text(json.dumps(config, indent=2))
    save_file(
        {name: tensor.contiguous() for name, tensor in tensors.items()}, str(folder / "adapter_model.safetensors")
    )
    archive = folder.with_suffix(".tar.gz")
    with tarfile.open(archive, "w:gz") as bundle:
        for path in sorted(folder.iterdir()):
            bundle.add(path, arcname=path.name)
    return archive


def greedy_text(model, tokenizer, tensors: dict | None, rank: int = 1) -> str:
    """8 tokens at temperature 0, with the adapter merged into a copy of the weights (alpha = rank: scale 1)."""
    import copy

    import torch

    merged = copy.deepcopy(model)
    for name, a in (tensors or {}).items():
        if not name.endswith("lora_A.weight"):
            continue
        module_path = name.removeprefix("base_model.model.").removesuffix(".lora_A.weight")
        linear = merged.get_submodule(module_path)
        b = tensors[name.replace("lora_A", "lora_B")]
        with torch.no_grad():
            linear.weight += b @ a
    ids = tokenizer(CHECK_PROMPT, return_tensors="pt")["input_ids"]
    with torch.no_grad():
        out = merged.generate(ids, max_new_tokens=8, do_sample=False, pad_token_id=tokenizer.eos_token_id)
    return tokenizer.decode(out[0, ids.shape[1] :])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path, help="folder to write base/ and adapters/ to")
    parser.add_argument("--chat-template-file", type=Path, required=True)
    parser.add_argument("--steps", type=int, default=120, help="training steps of the base (default 120)")
    args = parser.parse_args()
    base_dir, adapters_dir = args.out / "base", args.out / "adapters"
    base_dir.mkdir(parents=True, exist_ok=True)
    corpus = transcripts(400)
    tokenizer = make_tokenizer(corpus, base_dir, args.chat_template_file.read_text())
    model = make_base(tokenizer, corpus, base_dir, args.steps)
    texts = {"base": greedy_text(model, tokenizer, None)}
    for seed, (name, rank) in enumerate(ADAPTERS.items(), start=1):
        tensors = lora_weights(model, rank, seed)
        write_adapter(adapters_dir / name, base_dir, rank, tensors)
        texts[name] = greedy_text(model, tokenizer, tensors, rank)
    print(json.dumps(texts), file=sys.stderr)
    if len(set(texts.values())) != len(texts):
        print(f"an adapter does not change the text at temperature 0: {texts}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
