"""Extractors turn chunks into entities and relations; `get_extractor` builds one by name.

Built-ins and plugins share one registry. A plugin package registers a factory (a class or
function taking keyword options) under the entry-point group "kgx.extractors":

    [project.entry-points."kgx.extractors"]
    "acme.rules.v1" = "acme_kgx:AcmeExtractor"

Importing this package imports no model library; `get_extractor` imports the one it builds.

    >>> extractor = get_extractor("spacy", batch_size=32)
    >>> extractor.name
    'spacy.svo.v1'
"""

from __future__ import annotations

import importlib
import inspect
from typing import Any

from kgx.errors import ConfigError

from .protocol import Extractor

__all__ = [
    "ENTRY_POINT_GROUP",
    "Extractor",
    "default_llm",
    "get_extractor",
    "known_extractors",
    "takes_llm",
]

ENTRY_POINT_GROUP = "kgx.extractors"
_BUILT_INS = {
    "spacy.svo.v1": "kgx.extractors.spacy_svo:SpacyExtractor",
    "synthkg.v1": "kgx.extractors.synthkg:SynthKGExtractor",
    "direct.v1": "kgx.extractors.direct:DirectExtractor",
    "aps.grouped.v1": "kgx.extractors.propositions:PropositionSegmenter",
    "student.v1": "kgx.extractors.student:StudentExtractor",
}
_ALIASES = {"spacy": "spacy.svo.v1", "synthkg": "synthkg.v1", "direct": "direct.v1",
            "propositions": "aps.grouped.v1", "student": "student.v1"}


def known_extractors() -> dict[str, str]:
    """Every extractor name, aliases included, with the `module:attribute` that builds it."""
    from importlib.metadata import entry_points

    found = {ep.name: ep.value for ep in entry_points(group=ENTRY_POINT_GROUP)}
    found.update(_BUILT_INS)  # a plugin cannot take over a built-in name
    found.update({alias: found[target] for alias, target in _ALIASES.items()})
    return dict(sorted(found.items()))


def get_extractor(name: str, **options: Any) -> Extractor:
    """A new, not yet warmed-up extractor registered as `name`, built with `options`."""
    known = known_extractors()
    if name not in known:
        raise ConfigError(f"unknown extractor {name!r}; known extractors: {', '.join(known)}. "
                          f"A plugin registers more under the entry-point group "
                          f"{ENTRY_POINT_GROUP!r}.")
    factory = _load(name, known[name])
    try:
        inspect.signature(factory).bind(**options)
    except TypeError as e:
        raise ConfigError(f"extractor {name!r} does not take these options {sorted(options)}: "
                          f"{e}") from e
    return factory(**options)


def takes_llm(name: str) -> bool:
    """Whether the extractor registered as `name` needs an LLM (its factory takes `llm`)."""
    known = known_extractors()
    if name not in known:
        return False
    return "llm" in inspect.signature(_load(name, known[name])).parameters


def default_llm(name: str) -> str | None:
    """The LLM spec the extractor registered as `name` uses when the user names none."""
    known = known_extractors()
    return getattr(_load(name, known[name]), "default_llm", None) if name in known else None


def _load(name: str, target: str) -> Any:
    module_name, _, attribute = target.partition(":")
    try:
        module = importlib.import_module(module_name)
        return getattr(module, attribute) if attribute else module
    except (ImportError, AttributeError) as e:
        raise ConfigError(f"extractor {name!r} is registered as {target!r}, which cannot be "
                          f"loaded: {e}. Reinstall the package that provides it.") from e
