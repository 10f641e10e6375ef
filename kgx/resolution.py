"""Incremental, deterministic, type-aware entity resolution: one canonical entity per real thing.

A mention is matched, within its type only, first by its normalised name against every name and
alias already seen (a dict look-up), then by person-name rules that fire only on a unique
candidate, then by fuzzy similarity (rapidfuzz) within small blocks of candidates that share a
token. Mentions that match nothing are clustered among themselves with union-find and become new
canonical entities. Known entities keep their ids and names; they only gain aliases.
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from collections.abc import Collection, Hashable, Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import NamedTuple

from rapidfuzz import fuzz, process

from kgx.errors import ConfigError
from kgx.ids import entity_id, normalize_name
from kgx.models import Entity

PERSON_TYPES = ("PERSON", "PER")
ORG_TYPES = ("ORG", "ORGANIZATION", "ORGANISATION", "COMPANY")

_CORPORATE_SUFFIXES = frozenset({"inc", "incorporated", "corp", "corporation", "co", "company",
                                 "ltd", "limited", "llc", "llp", "lp", "plc", "gmbh", "ag", "sa",
                                 "nv", "bv"})
_ROMAN = re.compile(r"m{0,3}(cm|cd|d?c{0,3})(xc|xl|l?x{0,3})(ix|iv|v?i{0,3})")
_POSSESSIVE_END = re.compile(r"[’']s?$")
_DIGIT = re.compile(r"\d")
_GENERATIONAL = frozenset({"jr", "sr"})
_MAYBE_MARKED = re.compile(r"\d|\b[js]r\b|\s[ivxlcdm]+\b")
_NO_MARKS: frozenset[str] = frozenset()
_BLOCK_STOPWORDS = frozenset({"of", "and", "the", "for", "de", "la", "le", "del", "da", "von",
                              "van", "der", "in", "on", "at", "&"})

_NameKey = tuple[str, str]
_Counts = dict[tuple[str, str], int]


class _Name(NamedTuple):
    """A name prepared for matching: (type, key), tokens, token-sorted form, marks and blocks."""

    ident: _NameKey
    tokens: tuple[str, ...]
    form: str
    marks: frozenset[str]
    blocks: tuple[tuple[str, str], ...]

    @property
    def type_key(self) -> str:
        """The upper-cased entity type; names of different types never match."""
        return self.ident[0]

    @property
    def key(self) -> str:
        """The normalised name that exact matching compares."""
        return self.ident[1]


@lru_cache(maxsize=1 << 17)
def _prepare(name: str, type_key: str, strip_suffixes: bool) -> _Name:
    """Normalise a surface form; organisations also lose a trailing corporate suffix."""
    tokens = (normalize_name(name) or name.strip().casefold()).split()
    while strip_suffixes and len(tokens) > 1 and tokens[-1] in _CORPORATE_SUFFIXES:
        tokens.pop()
    key = " ".join(tokens)
    return _Name((type_key, key), tuple(tokens), " ".join(sorted(tokens)), _marks(tokens, key),
                 _block_keys(type_key, key, tokens))


def _marks(tokens: list[str], key: str) -> frozenset[str]:
    """Tokens that tell near-identical names apart (numbers, roman numerals, Jr/Sr)."""
    if not _MAYBE_MARKED.search(key):
        return _NO_MARKS
    return frozenset(
        token for position, token in enumerate(tokens)
        if token in _GENERATIONAL or _DIGIT.search(token)
        or (position and not token.strip("ivxlcdm") and _ROMAN.fullmatch(token))
    )


def _block_keys(type_key: str, key: str, tokens: list[str]) -> tuple[tuple[str, str], ...]:
    """Blocks a name is filed under: each informative token, or a single token's ends."""
    if len(tokens) == 1:
        return ((type_key, "^" + key[:3]), (type_key, key[-3:] + "$"))
    return tuple({(type_key, token): None for token in tokens
                  if len(token) > 1 and token not in _BLOCK_STOPWORDS})


def _differences_agree(one: _Name, other: _Name, cutoff: float) -> bool:
    """Whether each word one name has and the other lacks is a misspelling of one it has."""
    # Similar names can differ in the one word that matters ('Mark Smith', 'Mary Smith';
    # 'Salbel University', 'Salclif University'); a missing word ('John F Kennedy') is allowed.
    if one.marks != other.marks:
        return False
    left, right = set(one.tokens), set(other.tokens)
    only_left, only_right = left - right, right - left
    if len(only_left) > len(only_right):
        only_left, only_right = only_right, only_left
    return all(process.extractOne(word, only_right, scorer=fuzz.ratio, score_cutoff=cutoff)
               for word in only_left)


def _middles_agree(one: tuple[str, ...], other: tuple[str, ...]) -> bool:
    """Whether two lists of middle names can be the same person's (missing, equal or initials)."""
    if not one or not other:
        return True
    return len(one) == len(other) and all(
        a == b or (min(len(a), len(b)) == 1 and a[0] == b[0])
        for a, b in zip(one, other, strict=True))


@dataclass(frozen=True)
class _Settings:
    """The resolver's matching options."""

    threshold: float
    word_threshold: float
    min_fuzzy_length: int
    min_single_token_length: int
    max_block_size: int
    person_types: frozenset[str]
    org_types: frozenset[str]

    def fuzzy_ok(self, name: _Name) -> bool:
        """Short names merge by exact match only: 'Paris' must not absorb 'Parish'."""
        size = len(name.key)
        return size >= self.min_fuzzy_length and (
            len(name.tokens) > 1 or size >= self.min_single_token_length)

    def is_person(self, name: _Name) -> bool:
        """Person rules skip names with marks: 'John Smith Jr' is not 'John Smith'."""
        return (name.type_key in self.person_types and not name.marks
                and len(name.key) >= self.min_fuzzy_length)


class _Block(NamedTuple):
    """Parallel lists of the names filed under one block key."""

    forms: list[str]
    owners: list[Hashable]
    names: list[_Name]


class _NameIndex:
    """Candidate look-up for fuzzy and person-name matching, keyed so that blocks stay small."""

    def __init__(self, settings: _Settings) -> None:
        self._settings = settings
        self._blocks: dict[tuple[str, str], _Block] = {}
        self._last_names: dict[tuple[str, str], set[Hashable]] = defaultdict(set)
        self._signatures: dict[tuple[str, str, str], list[tuple[Hashable, tuple[str, ...]]]] = (
            defaultdict(list))

    def add(self, name: _Name, owner: Hashable) -> None:
        """File a name under its blocks and, for a full person name, under its person keys."""
        if self._settings.fuzzy_ok(name):
            for block_key in name.blocks:
                block = self._blocks.get(block_key) or self._blocks.setdefault(
                    block_key, _Block([], [], []))
                block.forms.append(name.form)
                block.owners.append(owner)
                block.names.append(name)
        if self._settings.is_person(name) and len(name.tokens) > 1:
            first, *middle, last = name.tokens
            self._last_names[(name.type_key, last)].add(owner)
            self._signatures[(name.type_key, first, last)].append((owner, tuple(middle)))

    def fuzzy(self, name: _Name, exclude: Hashable = None) -> dict[Hashable, float]:
        """Owners (but `exclude`) of names at least `threshold` similar whose other words agree."""
        found: dict[Hashable, float] = {}
        if not self._settings.fuzzy_ok(name):
            return found
        for block_key in name.blocks:
            block = self._blocks.get(block_key)
            if (block is None or len(block.forms) > self._settings.max_block_size
                    or block.owners == [exclude]):
                continue
            hits = process.extract(name.form, block.forms, scorer=fuzz.ratio, limit=None,
                                   score_cutoff=self._settings.threshold)
            for _, score, i in hits:
                owner = block.owners[i]
                if owner != exclude and score > found.get(owner, -1.0) and _differences_agree(
                        name, block.names[i], self._settings.word_threshold):
                    found[owner] = score
        return found

    def person(self, name: _Name) -> set[Hashable]:
        """Owners of full person names this one can abbreviate: 'Obama', 'John Kennedy'."""
        if not self._settings.is_person(name):
            return set()
        if len(name.tokens) == 1:
            return set(self._last_names.get((name.type_key, name.key), ()))
        first, *middle, last = name.tokens
        entries = self._signatures.get((name.type_key, first, last), ())
        return {owner for owner, other in entries if _middles_agree(tuple(middle), other)}


@dataclass
class _Cluster:
    """One canonical entity: its fixed id, name and type, and every surface form seen."""

    canonical_id: str
    name: str
    type: str
    surfaces: set[str]
    entity: Entity | None = None


def _find(parent: list[int], i: int) -> int:
    """Union-find root of `i`, halving the path as it goes."""
    while parent[i] != i:
        parent[i] = parent[parent[i]]
        i = parent[i]
    return i


def _union(parent: list[int], i: int, j: int) -> None:
    """Join the sets of `i` and `j`; the smaller root wins, so roots do not depend on order."""
    a, b = _find(parent, i), _find(parent, j)
    if a != b:
        parent[max(a, b)] = min(a, b)


def _best(scores: dict[Hashable, float]) -> Hashable:
    """The highest-scoring owner; ties go to the smallest id, so the choice is deterministic."""
    return min(scores, key=lambda owner: (-scores[owner], owner))


def _tally(seen: Counter[tuple[str, str]],
           names: dict[tuple[str, str], _Name]) -> dict[_NameKey, _Counts]:
    """How often each (surface form, type) occurs, per normalised name."""
    tally: dict[_NameKey, _Counts] = defaultdict(dict)
    for (surface, etype), count in seen.items():
        counts = tally[names[(surface, etype)].ident]
        tidy = (" ".join(surface.split()), etype)
        counts[tidy] = counts.get(tidy, 0) + count
    return tally


def _canonical_surface(tallies: Iterable[_Counts]) -> tuple[str, str]:
    """A new entity's (name, type): the most frequent surface, then the tidiest, then longest."""
    totals: dict[str, int] = {}
    types: dict[str, str] = {}
    for counts in tallies:
        for (surface, etype), count in counts.items():
            totals[surface] = totals.get(surface, 0) + count
            types[surface] = min(etype, types.get(surface, etype))
    name = min(totals, key=lambda surface: (-totals[surface], _untidiness(surface),
                                            -len(surface), surface))
    return name, types[name]


def _untidiness(surface: str) -> int:
    """How far a surface is from how the name is usually written: case, 'the', possessive."""
    return ((surface.islower() or surface.isupper()) + bool(_POSSESSIVE_END.search(surface))
            + surface.lower().startswith("the "))


class EntityResolver:
    """Map entity mentions to canonical entities, incrementally across batches and runs.

        >>> resolver = EntityResolver()
        >>> resolver.add_known([Entity(name="Barack Obama", type="PERSON")])
        >>> [e.name for e in resolver.resolve([Entity(name="Barak Obama", type="PERSON"),
        ...                                    Entity(name="Jordan", type="GPE")])]
        ['Barack Obama', 'Jordan']
        >>> sorted(e.name for e in resolver.pop_changed())
        ['Barack Obama', 'Jordan']
    """

    def __init__(self, threshold: float = 90.0, *, word_threshold: float = 80.0,
                 min_fuzzy_length: int = 4, min_single_token_length: int = 8,
                 max_block_size: int = 2000,
                 person_types: Collection[str] = PERSON_TYPES,
                 org_types: Collection[str] = ORG_TYPES) -> None:
        if not (0.0 < threshold <= 100.0 and 0.0 <= word_threshold <= 100.0):
            raise ConfigError(f"threshold {threshold} or word_threshold {word_threshold} is not a "
                              "similarity score; use 0 < score <= 100 (defaults: 90 and 80)")
        if min(min_fuzzy_length, min_single_token_length, max_block_size) < 1:
            raise ConfigError("min_fuzzy_length, min_single_token_length and max_block_size "
                              "must be at least 1")
        self._settings = _Settings(
            threshold, word_threshold, min_fuzzy_length, min_single_token_length, max_block_size,
            frozenset(t.upper() for t in person_types), frozenset(t.upper() for t in org_types))
        self._clusters: dict[str, _Cluster] = {}
        self._exact: dict[_NameKey, tuple[int, str]] = {}
        self._index = _NameIndex(self._settings)
        self._changed: set[str] = set()

    def add_known(self, entities: Iterable[Entity]) -> None:
        """Register canonical entities already in the store; their ids, names and aliases stay."""
        for entity in entities:
            cluster = self._clusters.get(entity.canonical_id)
            if cluster is None:
                cluster = _Cluster(entity.canonical_id, entity.name, entity.type, set())
                self._clusters[entity.canonical_id] = cluster
            for rank, surface in enumerate((entity.name, *entity.aliases)):
                cluster.surfaces.add(surface)
                self._claim(self._name(surface, entity.type), cluster.canonical_id, min(rank, 1))
            cluster.entity = None

    def resolve(self, mentions: Sequence[Entity]) -> list[Entity]:
        """Return the canonical Entity for each mention, in order; new names become new entities."""
        seen = Counter((mention.name, mention.type) for mention in mentions)
        names = {pair: self._name(*pair) for pair in seen}
        tally = _tally(seen, names)
        unique = {name.ident: name for name in names.values()}
        held = {ident: self._exact.get(ident) for ident in unique}
        owners = {ident: claim[1] for ident, claim in held.items() if claim is not None}
        self._record(list(owners), tally, unique, owners)
        pending = [unique[ident] for ident in sorted(unique) if ident not in owners]
        # Bare surnames go last, once this batch's full names are on record: 'Scholz' beside
        # 'Olaf Scholz' must not join 'Anna Scholz' just because she was the only one known.
        for group in ([name for name in pending if not self._is_surname(name)],
                      [name for name in pending if self._is_surname(name)]):
            self._assign(group, tally, owners)
            self._record([name.ident for name in group], tally, unique, owners)
        resolved = {pair: self._entity(owners[name.ident]) for pair, name in names.items()}
        return [resolved[(mention.name, mention.type)] for mention in mentions]

    def pop_changed(self) -> list[Entity]:
        """Canonical entities created or whose aliases changed since the last call, sorted by id."""
        changed, self._changed = sorted(self._changed), set()
        return [self._entity(canonical_id) for canonical_id in changed]

    def _name(self, surface: str, entity_type: str) -> _Name:
        """Prepare a surface form of a given entity type for matching."""
        type_key = entity_type.strip().upper()
        return _prepare(surface, type_key, type_key in self._settings.org_types)

    def _is_surname(self, name: _Name) -> bool:
        """Whether a name is a bare person surname, which person rules may expand."""
        return len(name.tokens) == 1 and self._settings.is_person(name)

    def _assign(self, names: list[_Name], tally: dict[_NameKey, _Counts],
                owners: dict[_NameKey, str]) -> None:
        """Match names to known entities, else cluster them into new ones; fill in `owners`."""
        unmatched = []
        for name in names:
            owner = self._match_existing(name)
            if owner is None:
                unmatched.append(name)
            else:
                owners[name.ident] = owner
        owners.update(self._create_clusters(unmatched, tally))

    def _record(self, idents: list[_NameKey], tally: dict[_NameKey, _Counts],
                unique: dict[_NameKey, _Name], owners: dict[_NameKey, str]) -> None:
        """Add the surface forms of resolved names to their entities."""
        for ident in idents:
            for surface, _ in tally[ident]:
                self._add_surface(owners[ident], surface, unique[ident])

    def _match_existing(self, name: _Name) -> str | None:
        """The entity a name matches by person rules or fuzzily, among those on record."""
        people = self._index.person(name)
        if len(people) == 1:
            return str(next(iter(people)))
        scores = self._index.fuzzy(name)
        return str(_best(scores)) if scores else None

    def _cluster_new(self, names: list[_Name]) -> list[list[int]]:
        """Group unmatched names with union-find: fuzzy pairs and unique person-rule pairs."""
        if len(names) < 2:
            return [[0]] if names else []
        index = _NameIndex(self._settings)
        for i, name in enumerate(names):
            index.add(name, i)
        parent = list(range(len(names)))
        for i, name in enumerate(names):
            for j in index.fuzzy(name, exclude=i):
                _union(parent, i, int(j))
            people = index.person(name) - {i}
            if len(people) == 1:
                _union(parent, i, int(people.pop()))
        components: dict[int, list[int]] = defaultdict(list)
        for i in range(len(names)):
            components[_find(parent, i)].append(i)
        return list(components.values())

    def _create_clusters(self, names: list[_Name],
                         tally: dict[_NameKey, _Counts]) -> dict[_NameKey, str]:
        """Make one canonical entity per group of unmatched names; return each name's id."""
        owners: dict[_NameKey, str] = {}
        for component in self._cluster_new(names):
            canonical, etype = _canonical_surface(tally[names[i].ident] for i in component)
            canonical_id = entity_id(canonical, etype)
            if canonical_id not in self._clusters:
                self._clusters[canonical_id] = _Cluster(canonical_id, canonical, etype, set())
                self._claim(self._name(canonical, etype), canonical_id, 0)
                self._changed.add(canonical_id)
            owners.update((names[i].ident, canonical_id) for i in component)
        return owners

    def _add_surface(self, canonical_id: str, surface: str, name: _Name) -> None:
        """Record a surface form of an entity; a new one changes the entity's aliases."""
        cluster = self._clusters[canonical_id]
        if surface not in cluster.surfaces:
            cluster.surfaces.add(surface)
            cluster.entity = None
            self._changed.add(canonical_id)
            self._claim(name, canonical_id, 1)

    def _claim(self, name: _Name, canonical_id: str, rank: int) -> None:
        """Point a normalised name at an entity; a canonical name (rank 0) beats an alias."""
        held = self._exact.get(name.ident)
        if held is None or (rank, canonical_id) < held:
            self._exact[name.ident] = (rank, canonical_id)
            if held is None or held[1] != canonical_id:
                self._index.add(name, canonical_id)

    def _entity(self, canonical_id: str) -> Entity:
        """The current Entity of a cluster, rebuilt only after its aliases change."""
        cluster = self._clusters[canonical_id]
        if cluster.entity is None:
            aliases = tuple(sorted(cluster.surfaces - {cluster.name}))
            cluster.entity = Entity(name=cluster.name, type=cluster.type, aliases=aliases,
                                    canonical_id=canonical_id)
        return cluster.entity
