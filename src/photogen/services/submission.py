"""Generation submission: the one way from a request's fields to a queued job.

/v1/generations and /v1/sweeps come through here, and so does every compatibility path (the how-to's
/v1/image-to-image, OpenAI's images API, AUTOMATIC1111's img2img), so none of them passes the model catalogue,
recipes, the model's capabilities, the callback URL rules, the reference rules or the per-owner limits by.

1. `request(...)`: the fields become a GenerationRequest for a catalogue model (a recipe fills what the caller
   left out), made to fit the model's capabilities;
2. `submit(...)`: reference images sent with the request are stored as the owner's uploads (within the upload
   limits), then the job is submitted through JobService (preflight of the source, work limit, active jobs,
   idempotency); a refused submission takes the reference uploads it stored with it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Collection, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from photogen.domain.errors import InvalidRequest, PhotogenError
from photogen.domain.jobs import JobOrigin
from photogen.domain.params import GenerationRequest
from photogen.domain.records import JobRecord
from photogen.engines.controls import without_unused_strength
from photogen.services.catalogue import ModelCatalogue
from photogen.services.jobs import JobService, SourcePhoto
from photogen.services.limits import OwnerLimits
from photogen.services.recipes import RecipeService
from photogen.services.references import DrawnReferences, ReferencePicker, angle_warnings
from photogen.services.uploads import UploadService

if TYPE_CHECKING:
    from photogen.services.identities import IdentityService


def reference_digest(data: bytes) -> str:
    """How a request names a reference image: the SHA-256 (hex) of its original bytes, as its upload records it."""
    return hashlib.sha256(data).hexdigest()


class GenerationSubmissions:
    def __init__(self, catalogue: ModelCatalogue, recipes: RecipeService, jobs: JobService, uploads: UploadService,
                 limits: OwnerLimits, *, url_allowlist: Sequence[str] = (),
                 identities: IdentityService | None = None) -> None:
        self._catalogue = catalogue
        self._recipes = recipes
        self._jobs = jobs
        self._uploads = uploads
        self._limits = limits
        self._url_allowlist = list(url_allowlist)
        self._picker = ReferencePicker(uploads, identities)

    @property
    def default_model(self) -> str:
        return self._catalogue.default_id

    def request(self, owner: str, fields: Mapping[str, Any], given: Collection[str], *, model: str | None,
                recipe: str | None = None, also_given: Collection[str] = ()) -> GenerationRequest:
        """The request `fields` stand for (GenerationRequest's fields; `given` names those the caller set), for
        catalogue model `model` (None: the default), with recipe `recipe` filling what the caller left out, made
        to fit the model: controls the caller set are checked (`also_given` counts as set), the others follow
        the model. Raises ModelNotAllowed, InvalidRequest or UnsupportedControl before anything is stored."""
        model_id = self._catalogue.resolve(model)
        capabilities = self._catalogue.capabilities(model_id)
        if recipe:
            instruction = capabilities is not None and capabilities.prompt_kind == "instruction"
            fields = self._recipes.expand(owner, recipe, {name: fields[name] for name in given if name in fields},
                                          instruction=instruction)
        fields = without_unused_strength(fields, {*given, *also_given}, capabilities)
        request = GenerationRequest.parse({**fields, "model": model_id})
        return self._catalogue.fit(request, given={*given, *also_given})

    def draw(self, owner: str, *, identity_id: str | None, reference_upload_ids: Sequence[str] | None,
             source_given: bool, model: str | None) -> DrawnReferences | None:
        """The source and reference images a request draws from an identity set or a list of uploads (None when
        it names neither): each the owner's (404 otherwise) and not blocked by its preflight (422); an identity
        set's references capped at what `model` takes (photogen.services.references)."""
        if identity_id is None and reference_upload_ids is None:
            return None
        capabilities = self._catalogue.capabilities(self._catalogue.resolve(model))
        listed = None if reference_upload_ids is None else list(reference_upload_ids)
        return self._picker.draw(owner, identity_id=identity_id, reference_upload_ids=listed, source_given=source_given,
                                 max_references=None if capabilities is None else capabilities.max_references)

    def request_drawing(self, owner: str, fields: Mapping[str, Any], given: Collection[str], *, model: str | None,
                        drawn: DrawnReferences | None, recipe: str | None = None,
                        also_given: Collection[str] = ()) -> GenerationRequest:
        """`request(...)` with the references `drawn` names (by SHA-256) in place of `fields`' own."""
        if drawn is None:
            return self.request(owner, fields, given, model=model, recipe=recipe, also_given=also_given)
        if fields.get("references"):
            raise InvalidRequest("references: give the reference images one way: references (SHA-256s), "
                                 "reference_upload_ids or identity_id", hint="leave references out")
        return self.request(owner, {**fields, "references": list(drawn.digests)}, {*given, "references"},
                            model=model, recipe=recipe, also_given=also_given)

    def warnings_for(self, request: GenerationRequest, drawn: DrawnReferences | None,
                     source: str | SourcePhoto, owner: str) -> tuple[str, ...]:
        """What the checks before the run warn about: a head turn past what the photos drawn on show."""
        if request.angle is None:
            return ()
        yaws = drawn.yaws if drawn is not None else ()
        if isinstance(source, str) and (drawn is None or drawn.source is None):
            from photogen.services.references import upload_yaws

            yaws = upload_yaws([self._uploads.get(owner, source)]) + yaws  # the caller's own source leads
        return tuple(angle_warnings(request.angle, yaws, 1 + len(request.references)))

    def check_callback(self, callback_url: str | None) -> None:
        """A callback URL may be reached under the address rules (refused before anything is stored)."""
        if callback_url:
            from photogen.net.guard import check_url

            check_url(callback_url, allow=self._url_allowlist)

    def submit(self, owner: str, request: GenerationRequest, source: str | SourcePhoto, *,
               idempotency_key: str | None = None, callback_url: str | None = None, via: JobOrigin | None = None,
                reference_images: Sequence[bytes] = (), drawn: DrawnReferences | None = None,
                warnings: Sequence[str] = (), delivery: str | None = None) -> tuple[JobRecord, bool]:
        """Queue `request` from `source` (an upload id or a photo not stored yet); returns (job, created).

        `reference_images` are the bytes of reference images the request names by digest and the owner may not
        hold yet: each new one is stored as an upload first (a refused request removes them again). `drawn`: the
        photos an identity set or a list of uploads gave it (its source, when it names none itself)."""
        self.check_callback(callback_url)
        if drawn is not None and drawn.source is not None:
            source = drawn.source.id
        made = self._store_references(owner, request, reference_images)
        try:
            return self._jobs.submit(owner, request, source, idempotency_key=idempotency_key,
                                     callback_url=callback_url, via=via,
                                     identity_id=drawn.identity_id if drawn is not None else None,
                                     warnings=tuple(warnings),
                                     **({"delivery": delivery} if delivery is not None else {}))
        except PhotogenError:
            self._drop(owner, made)
            raise

    def submit_sweep(self, owner: str, base: GenerationRequest, source: str | SourcePhoto, field: str, values: list,
                     *, idempotency_key: str | None = None, callback_url: str | None = None) -> tuple[JobRecord, bool]:
        """One job that makes an output per value of `field` on `base` (JobService.submit_sweep)."""
        self.check_callback(callback_url)
        return self._jobs.submit_sweep(owner, base, source, field, values, idempotency_key=idempotency_key,
                                       callback_url=callback_url)

    def _store_references(self, owner: str, request: GenerationRequest, images: Sequence[bytes]) -> list[str]:
        """Each of `images` the owner does not hold yet, stored as an upload within the upload limits; the ids of
        the uploads made. Every image must be one the request names."""
        digests = [reference_digest(data) for data in images]
        unnamed = [digest for digest in digests if digest not in request.references]
        if unnamed:
            raise InvalidRequest(f"references: an image sent with the request ({unnamed[0]}) is not among its "
                                 "references", hint="name each reference image by the SHA-256 of its bytes")
        held = self._uploads.held_sha256s(owner, digests)
        made: list[str] = []
        try:
            for data, digest in zip(images, digests):
                if digest in held:
                    continue
                self._limits.admit_upload(owner, len(data))
                made.append(self._uploads.create(owner, data, "", None).id)
                held.add(digest)
        except PhotogenError:
            self._drop(owner, made)
            raise
        return made

    def _drop(self, owner: str, upload_ids: list[str]) -> None:
        for upload_id in upload_ids:
            self._uploads.delete(owner, upload_id, actor="photogen", reason="the request it came with was refused")
