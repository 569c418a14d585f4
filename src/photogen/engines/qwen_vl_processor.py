"""Qwen-Image-Edit's processor (tokenizer and image processor of its Qwen2.5-VL text encoder), read without
torchvision.

The pipeline names transformers' Qwen2VLProcessor, which in transformers 5 cannot be built without torchvision
(it also holds a video processor, and video processors need it). Qwen-Image-Edit reads images only, so photogen
reads the same files (`processor/` of the model folder: the tokenizer files and preprocessor_config.json) into
`QwenVLImageProcessor`: the same class minus the video processor, with transformers' PIL image processor for
Qwen2-VL. It tokenizes, resizes and patches images as Qwen2VLProcessor does, on every install, so the same
request gives the same pixels with or without torchvision.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from transformers import Qwen2Tokenizer, Qwen2VLProcessor
from transformers.models.qwen2_vl.image_processing_pil_qwen2_vl import Qwen2VLImageProcessorPil
from transformers.processing_utils import ProcessorMixin

STOCK_IMAGE_PROCESSOR, STOCK_PROCESSOR = "Qwen2VLImageProcessor", "Qwen2VLProcessor"
_NOT_SETTINGS = ("image_processor_type", "processor_class", "auto_map", "_processor_class")


def image_processor_from_dict(settings: dict[str, Any]) -> Qwen2VLImageProcessorPil:
    """The PIL image processor for a preprocessor_config.json (legacy `min_pixels`/`max_pixels` are understood)."""
    return Qwen2VLImageProcessorPil(**{k: v for k, v in settings.items() if k not in _NOT_SETTINGS})


class QwenVLImageProcessor(Qwen2VLProcessor):
    """Qwen2VLProcessor for images and text only: no video processor, so no torchvision."""

    def __init__(self, image_processor=None, tokenizer=None, chat_template=None, **kwargs):
        self.image_token, self.video_token = "<|image_pad|>", "<|video_pad|>"
        self.image_token_id = tokenizer.convert_tokens_to_ids(self.image_token)
        self.video_token_id = tokenizer.convert_tokens_to_ids(self.video_token)
        ProcessorMixin.__init__(self, image_processor, tokenizer, chat_template=chat_template)

    @classmethod
    def from_folder(cls, folder: Path) -> QwenVLImageProcessor:
        """Read a model's `processor/` folder (tokenizer files and the image processor's settings) offline."""
        tokenizer = Qwen2Tokenizer.from_pretrained(folder, local_files_only=True)
        legacy = folder / "preprocessor_config.json"
        if legacy.is_file():
            settings = json.loads(legacy.read_text())
        else:  # transformers 5 writes one processor_config.json with the image processor inside
            settings = json.loads((folder / "processor_config.json").read_text()).get("image_processor", {})
        return cls(image_processor_from_dict(settings), tokenizer)

    def save_pretrained(self, save_directory, push_to_hub: bool = False, **kwargs) -> list[str]:
        """Write the layout Qwen-Image-Edit's repositories have, which Qwen2VLProcessor (with torchvision) and
        `from_folder` both read: the tokenizer files and preprocessor_config.json naming the stock classes."""
        folder = Path(save_directory)
        folder.mkdir(parents=True, exist_ok=True)
        self.tokenizer.save_pretrained(folder)
        settings = {k: v for k, v in self.image_processor.to_dict().items() if k not in _NOT_SETTINGS}
        settings.update(image_processor_type=STOCK_IMAGE_PROCESSOR, processor_class=STOCK_PROCESSOR)
        path = folder / "preprocessor_config.json"
        path.write_text(json.dumps(settings, indent=2, sort_keys=True) + "\n")
        return [str(path)]
