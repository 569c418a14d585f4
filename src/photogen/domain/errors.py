"""Errors the user can act on. Each carries a stable code, a message and a one-line fix."""

from __future__ import annotations


class PhotogenError(Exception):
    """Base of every error photogen reports to a person or a program."""

    code = "photogen_error"

    def __init__(self, message: str, *, hint: str = "", code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint
        if code is not None:
            self.code = code

    def as_dict(self) -> dict[str, str]:
        return {"code": self.code, "message": self.message, "hint": self.hint}

    def __str__(self) -> str:
        return f"{self.message} ({self.hint})" if self.hint else self.message


class InvalidRequest(PhotogenError):
    code = "invalid_request"


class ImageUnreadable(PhotogenError):
    code = "image_unreadable"


class SourceNotFound(PhotogenError):
    code = "source_not_found"


class ModelNotFound(PhotogenError):
    code = "model_not_found"


class UnsupportedModel(PhotogenError):
    code = "unsupported_model"


class UnsupportedControl(PhotogenError):
    """A request uses a control (image strength, negative prompt, a scheduler, references, ...) its model lacks."""

    code = "unsupported_control"

    def __init__(self, control: str, model: str, message: str, *, hint: str = "") -> None:
        super().__init__(message, hint=hint)
        self.control = control
        self.model = model


class IncompatibleBatch(PhotogenError):
    code = "incompatible_batch"


class MetadataMissing(PhotogenError):
    code = "metadata_missing"
