"""A relation to harvest: prompts with `<ENT0>`…`<ENTn>` slots and seed entity tuples.

Reads BertNet's relation files (a JSON object of relation name → `init_prompts`,
`seed_ent_tuples`, optional `prompts`) and a short form for one relation, in JSON or YAML:

    {"name": "capital_of", "prompt": "<ENT0> is the capital of <ENT1> .",
     "seeds": [["Paris", "France"], ["Rome", "Italy"]]}
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from kgx.errors import InputError

SLOT = re.compile(r"<ENT(\d+)>")


class Relation(BaseModel):
    """A relation definition: its prompts and seed tuples (underscores in seeds become spaces)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(min_length=1)
    init_prompts: tuple[str, ...] = Field(min_length=1)
    seeds: tuple[tuple[str, ...], ...] = Field(min_length=1)
    prompts: tuple[str, ...] = ()
    """Extra prompts already searched (BertNet's `prompts`); paraphrasing adds more."""

    @model_validator(mode="after")
    def _check_slots(self) -> Relation:
        arity = self.arity
        for prompt in (*self.init_prompts, *self.prompts):
            if sorted(set(slots_of(prompt))) != list(range(arity)):
                raise ValueError(f"prompt {prompt!r} must use each of <ENT0>..<ENT{arity - 1}> "
                                 "(the slots of the first prompt)")
        for seed in self.seeds:
            if len(seed) != arity:
                raise ValueError(f"seed {list(seed)} has {len(seed)} entities; the prompts have "
                                 f"{arity} slots")
        return self

    @property
    def arity(self) -> int:
        """How many entities a tuple of this relation has."""
        return len(set(slots_of(self.init_prompts[0])))


def slots_of(prompt: str) -> list[int]:
    """The slot numbers of `prompt`, in the order they appear."""
    return [int(n) for n in SLOT.findall(prompt)]


def load_relations(path: Path) -> list[Relation]:
    """Every relation in a BertNet relation file, or the one relation of a short file."""
    data = _read(path)
    if not isinstance(data, dict):
        raise InputError(f"{path}: expected a JSON/YAML object (see `kgx harvest --help`).")
    try:
        if "prompt" in data or ("init_prompts" in data and "name" in data):
            return [_short_form(data, path.stem)]
        return [_bertnet_form(name, spec) for name, spec in data.items()]
    except (ValidationError, TypeError, AttributeError, KeyError) as e:
        raise InputError(f"{path}: not a relation definition: {e}") from e


def _short_form(data: dict, default_name: str) -> Relation:
    prompts = data.get("init_prompts") or [data["prompt"]]
    return Relation(name=data.get("name", default_name), init_prompts=tuple(prompts),
                    seeds=_seeds(data.get("seeds") or data.get("seed_ent_tuples") or []),
                    prompts=tuple(data.get("prompts", ())))


def _bertnet_form(name: str, spec: dict) -> Relation:
    return Relation(name=name, init_prompts=tuple(spec["init_prompts"]),
                    seeds=_seeds(spec["seed_ent_tuples"]),
                    prompts=tuple(spec.get("prompts", ())))


def _seeds(raw) -> tuple[tuple[str, ...], ...]:
    return tuple(tuple(" ".join(str(e).replace("_", " ").split()) for e in seed)
                 for seed in raw)


def _read(path: Path):
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise InputError(f"Cannot read {path}: {e}") from e
    if path.suffix.lower() in (".yaml", ".yml"):
        try:
            import yaml
        except ImportError as e:
            raise InputError(f"{path} is YAML; pip install pyyaml, or write it as JSON.") from e
        try:
            return yaml.safe_load(text)
        except yaml.YAMLError as e:
            raise InputError(f"{path}: not valid YAML: {e}") from e
    try:
        return json.loads(text)
    except json.JSONDecodeError as e:
        raise InputError(f"{path}:{e.lineno}: not valid JSON ({e.msg}).") from e
