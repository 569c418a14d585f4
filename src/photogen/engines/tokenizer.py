"""The CLIP tokenizer every Stable Diffusion family uses, built offline from the shipped vocabulary.

The vocabulary is converted the way CLIP builds it: 256 byte tokens, the same with the
end-of-word marker, one token per merge, then the two special tokens (49,408 in all).
"""

from __future__ import annotations

import functools
import gzip
from importlib import resources

from transformers import CLIPTokenizer

VOCAB_SIZE = 49408
_MERGE_COUNT = VOCAB_SIZE - 256 - 256 - 2
START, END = "<|startoftext|>", "<|endoftext|>"


def _bytes_to_unicode() -> list[str]:
    """CLIP's stand-in characters for the 256 byte values, in CLIP's vocabulary order:
    the printable bytes as themselves first, then the rest mapped above U+0100."""
    printable = (
        list(range(ord("!"), ord("~") + 1))
        + list(range(ord("¡"), ord("¬") + 1))
        + list(range(ord("®"), ord("ÿ") + 1))
    )
    rest = [b for b in range(256) if b not in printable]
    return [chr(b) for b in printable] + [chr(256 + n) for n in range(len(rest))]


@functools.cache
def _vocab_and_merges() -> tuple[dict[str, int], list[tuple[str, str]]]:
    packed = resources.files("photogen.engines.vocab") / "bpe_simple_vocab_16e6.txt.gz"
    lines = gzip.decompress(packed.read_bytes()).decode("utf-8").split("\n")
    merges = [tuple(line.split()) for line in lines[1 : _MERGE_COUNT + 1]]
    byte_tokens = _bytes_to_unicode()
    tokens = byte_tokens + [t + "</w>" for t in byte_tokens] + ["".join(m) for m in merges] + [START, END]
    return {token: index for index, token in enumerate(tokens)}, merges


def clip_tokenizer(pad_token: str = END) -> CLIPTokenizer:
    """A fresh CLIP tokenizer. SD 1.x pads with the end token; OpenCLIP encoders (SD 2.x,
    SDXL's second encoder) pad with "!"."""
    vocab, merges = _vocab_and_merges()
    return CLIPTokenizer(
        vocab=dict(vocab), merges=list(merges), pad_token=pad_token, model_max_length=77
    )
