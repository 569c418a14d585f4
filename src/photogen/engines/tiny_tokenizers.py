"""Small tokenizers built offline for the tiny edit models: no vocabulary file is downloaded or shipped.

Real checkpoints carry their own tokenizer files; these exist so that the tiny random-weight models
run the real pipeline code, which tokenizes through the same tokenizer classes (Qwen's byte-level BPE
with a chat template for FLUX.2, T5's unigram for FLUX.1). Both are deterministic: the same tokens
for the same text on every machine.
"""

from __future__ import annotations

QWEN_SPECIALS = ("<|endoftext|>", "<|im_start|>", "<|im_end|>", "<think>", "</think>")
# Qwen3's chat template as FLUX.2 [klein] calls it (one user turn, generation prompt, thinking off).
QWEN_CHAT_TEMPLATE = (
    "{% for message in messages %}<|im_start|>{{ message['role'] }}\n{{ message['content'] }}<|im_end|>\n"
    "{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n"
    "{% if enable_thinking is defined and not enable_thinking %}<think>\n\n</think>\n\n{% endif %}{% endif %}"
)
# a few merges of common pieces, so that the model sees multi-byte tokens too
_QWEN_MERGES = (("Ġ", "a"), ("t", "h"), ("Ġ", "th"), ("o", "n"), ("e", "r"), ("i", "n"))
_T5_WORDS = ("▁a", "▁the", "▁of", "▁photo", "▁make", "▁red", "▁in", "▁and")


def _byte_characters() -> list[str]:
    """GPT-2's stand-in characters for the 256 byte values, in its vocabulary order."""
    printable = (
        list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    )
    rest = [b for b in range(256) if b not in printable]
    return [chr(b) for b in printable] + [chr(256 + n) for n in range(len(rest))]


def tiny_qwen_tokenizer():
    """A byte-level BPE in Qwen2's tokenizer class with Qwen3's chat template: 256 bytes, 6 merges and the
    special tokens (267 tokens; the tiny text encoder's vocabulary is sized to match)."""
    from transformers import Qwen2Tokenizer

    vocab = {token: index for index, token in enumerate(_byte_characters())}
    for left, right in _QWEN_MERGES:
        vocab[left + right] = len(vocab)
    tokenizer = Qwen2Tokenizer(vocab=vocab, merges=list(_QWEN_MERGES), unk_token=QWEN_SPECIALS[0],
                               eos_token=QWEN_SPECIALS[0], pad_token=QWEN_SPECIALS[0])
    tokenizer.add_special_tokens({"additional_special_tokens": list(QWEN_SPECIALS[1:])})
    tokenizer.chat_template = QWEN_CHAT_TEMPLATE
    return tokenizer


def tiny_t5_tokenizer():
    """A unigram vocabulary in T5's tokenizer class: pad, end, unknown, the word marker, the letters and a
    few words (38 tokens), without T5's extra sentinel ids."""
    from transformers import T5Tokenizer

    pieces = [("<pad>", 0.0), ("</s>", 0.0), ("<unk>", 0.0), ("▁", -2.0)]
    pieces += [(letter, -3.0 - index / 100) for index, letter in enumerate("abcdefghijklmnopqrstuvwxyz")]
    pieces += [(word, -2.5) for word in _T5_WORDS]
    return T5Tokenizer(vocab=pieces, extra_ids=0)


def tiny_tokenizer(class_name: str):
    """The tiny tokenizer for a pipeline's tokenizer class name (as model_index.json names it)."""
    from photogen.engines.tokenizer import clip_tokenizer

    builders = {
        "Qwen2TokenizerFast": tiny_qwen_tokenizer,
        "Qwen2Tokenizer": tiny_qwen_tokenizer,
        "T5TokenizerFast": tiny_t5_tokenizer,
        "T5Tokenizer": tiny_t5_tokenizer,
        "CLIPTokenizer": clip_tokenizer,
    }
    if class_name not in builders:
        raise ValueError(f"no tiny tokenizer for {class_name}")
    return builders[class_name]()
