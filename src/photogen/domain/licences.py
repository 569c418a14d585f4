"""Commercial terms of model licences, in plain words: may outputs go into paid or client work?

Each model's licence is read from its model card (the `license:` tag, or `license_name:` when the tag is
`other`) and looked up here. `use` is one of:
- "allowed": commercial use is allowed;
- "conditions": allowed on conditions, which `conditions` names;
- "non_commercial": only non-commercial use (research, personal work); client work needs another licence;
- "unknown": photogen does not know the licence; read the model card before any commercial use.

This is a summary to make the question visible beside every download and in every output's record, not
legal advice: the licence text decides.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Literal

CommercialUse = Literal["allowed", "conditions", "non_commercial", "unknown"]

_OPENRAIL_CONDITIONS = (
    "the licence's use restrictions apply (no unlawful, harmful or deceptive uses as its Attachment A lists) and "
    "must be passed on to anyone you share the model with"
)


@dataclass(frozen=True)
class CommercialTerms:
    licence: str  # the licence's name as people know it
    use: CommercialUse
    conditions: str = ""  # for "conditions": which; for others, anything worth knowing
    summary: str = ""  # one plain sentence for people

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


_KNOWN: dict[str, CommercialTerms] = {
    "apache-2.0": CommercialTerms(
        "Apache License 2.0", "allowed",
        summary="Commercial use allowed: outputs may be used in paid and client work."),
    "mit": CommercialTerms("MIT License", "allowed", summary="Commercial use allowed."),
    "creativeml-openrail-m": CommercialTerms(
        "CreativeML Open RAIL-M", "conditions", _OPENRAIL_CONDITIONS,
        "Commercial use allowed with conditions: outputs are yours to use, within the licence's use restrictions."),
    "openrail++": CommercialTerms(
        "CreativeML Open RAIL++-M", "conditions", _OPENRAIL_CONDITIONS,
        "Commercial use allowed with conditions: outputs are yours to use, within the licence's use restrictions."),
    "openrail": CommercialTerms(
        "Open RAIL", "conditions", _OPENRAIL_CONDITIONS,
        "Commercial use allowed with conditions: within the licence's use restrictions."),
    "stabilityai-ai-community": CommercialTerms(
        "Stability AI Community License", "conditions",
        "free for individuals and organisations with under US$1M annual revenue; above that an enterprise "
        "licence from Stability AI is needed",
        "Commercial use allowed under US$1M annual revenue; above it, only with Stability AI's enterprise licence."),
    "sai-nc-community": CommercialTerms(
        "Stability AI Non-Commercial Research Community License", "non_commercial",
        "commercial use needs a membership or licence from Stability AI",
        "Non-commercial only: do not use outputs in paid or client work without a licence from Stability AI."),
    "flux-1-dev-non-commercial-license": CommercialTerms(
        "FLUX.1 [dev] Non-Commercial License", "non_commercial",
        "the model may be run only for non-commercial purposes; generating images for paid or client work needs "
        "a commercial licence from Black Forest Labs (the licence also forbids training competing models on "
        "outputs)",
        "Non-commercial only: client work needs a commercial licence from Black Forest Labs."),
    "flux-non-commercial-license": CommercialTerms(
        "FLUX Non-Commercial License", "non_commercial",
        "the model may be run only for non-commercial purposes; paid or client work needs a commercial licence "
        "from Black Forest Labs",
        "Non-commercial only: client work needs a commercial licence from Black Forest Labs."),
    "cc-by-nc-4.0": CommercialTerms(
        "Creative Commons Attribution-NonCommercial 4.0", "non_commercial",
        summary="Non-commercial only: do not use outputs in paid or client work."),
}
_ALIASES = {
    "apache 2.0": "apache-2.0", "apache-2": "apache-2.0",
    "creativeml-openrail++-m": "openrail++", "openrail++-m": "openrail++",
    "stabilityai-community": "stabilityai-ai-community", "stability-ai-community": "stabilityai-ai-community",
    "flux-dev-non-commercial-license": "flux-non-commercial-license",
}


def commercial_terms(licence: str | None) -> CommercialTerms:
    """The terms of a licence id as model cards write it ("apache-2.0", "flux-1-dev-non-commercial-license",
    or photogen's own "Apache-2.0 (built by photogen ...)"); unknown licences say so."""
    if not licence:
        return CommercialTerms("not stated", "unknown", summary="The model states no licence: read its model card "
                               "before any commercial use.")
    key = licence.strip().split(" (")[0].strip().lower()
    key = _ALIASES.get(key, key)
    if key in _KNOWN:
        return _KNOWN[key]
    return CommercialTerms(licence, "unknown",
                           summary=f"photogen does not know the licence {licence!r}: read it before any commercial use.")
