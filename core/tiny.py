"""Tiny random Llama models for tests, benchmarks and demos: built from a config, no network.

    folder = make_tiny_model(tmp_path / "teacher", n_layers=4)
    spec = resolve_model(str(folder))       # a local model like any other

The tokenizer is a byte-level BPE trained on a few paragraphs of built-in text and
carries a ChatML chat template (the one SmolLM2 uses), so chat, batching and
distillation code paths run exactly as with the real default teacher.
"""

from __future__ import annotations

from pathlib import Path

from core.specs import ModelSpec

CHAT_TEMPLATE = (
    "{% for message in messages %}"
    "{{ '<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)
_CORPUS = [
    "The quick brown fox jumps over the lazy dog.",
    "Red, yellow and blue are the three primary colours of paint.",
    "A teacher model answers prompts; a student model learns from the answers.",
    "Licences say what may be done with a model's outputs and who must be told.",
    "The ledger keeps every model, dataset, run and vote, each row chained by a hash.",
    "def add(a, b):\n    return a + b\n",
    "Paris is the capital of France. Rome is the capital of Italy.",
    "One, two, three, four, five, six, seven, eight, nine, ten.",
    "Hello! How can I help you today? I am a small helpful assistant.",
]


def make_tokenizer(vocab_size: int = 512):
    """A byte-level BPE tokenizer with ChatML special tokens and a chat template."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    specials = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=specials,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(_CORPUS * 4, trainer=trainer)
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok,
        bos_token="<|im_start|>",
        eos_token="<|im_end|>",
        pad_token="<|endoftext|>",
        unk_token="<|endoftext|>",
    )
    fast.chat_template = CHAT_TEMPLATE
    fast.padding_side = "left"
    return fast


def make_tiny_model(
    folder: str | Path,
    *,
    n_layers: int = 2,
    hidden: int = 64,
    seed: int = 0,
    name: str | None = None,
    license: str = "apache-2.0",
    tokenizer=None,
) -> Path:
    """Build and save a random Llama with ``n_layers`` decoder layers; return its folder."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    from core.hashing import sha256_weights
    from core.models import write_spec

    folder = Path(folder)
    tokenizer = tokenizer or make_tokenizer()
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=hidden,
        intermediate_size=hidden * 2,
        num_hidden_layers=n_layers,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=512,
        tie_word_embeddings=True,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    torch.manual_seed(seed)
    model = LlamaForCausalLM(config)
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    model.generation_config.eos_token_id = tokenizer.eos_token_id
    folder.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(folder, safe_serialization=True)
    tokenizer.save_pretrained(folder)
    spec = ModelSpec(
        name=name or folder.name,
        source="local",
        path=str(folder.resolve()),
        license=license,
        description=f"tiny random Llama, {n_layers} layers, hidden {hidden} (tests)",
    )
    write_spec(folder, spec, weights_sha256=sha256_weights(folder))
    return folder
