"""Shared benchmark helpers: a seeded corpus of facts, a Neo4j server to write it into, timing.

The corpus states facts about people, organisations, places and works. Names are unique by
`kgx.ids.normalize_name`, so every store keys them the same way, and each (subject, predicate,
object) triple occurs once, so stores that merge on the triple agree on counts.

    corpus = make_corpus(seed=7, entities=30_000, relations=100_000, relations_per_doc=10)
"""

from __future__ import annotations

import gc
import itertools
import os
import random
import string
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from names import ADJECTIVES, FIRST, INDUSTRY, INSTITUTIONS, LAST, NOUNS, place, place_word

from kgx.ids import normalize_name

WORK_FORMS = ["The {adj} {noun}", "{noun} of {place}", "The {noun} at {place}",
              "{adj} {noun}s", "Letters from {place}", "A {noun} for {first}",
              "Symphony No. {n} \"{noun}\"", "The {noun} of {last}"]

# Entity types follow spaCy's labels; shares of the entity count.
TYPE_SHARES = (("PERSON", 0.50), ("ORG", 0.20), ("GPE", 0.15), ("WORK_OF_ART", 0.15))

# subject type -> [(predicate, object type)]
PREDICATES = {
    "PERSON": [("born in", "GPE"), ("lives in", "GPE"), ("died in", "GPE"),
               ("works for", "ORG"), ("founded", "ORG"), ("member of", "ORG"),
               ("studied at", "ORG"), ("married to", "PERSON"), ("colleague of", "PERSON"),
               ("mentored", "PERSON"), ("wrote", "WORK_OF_ART"), ("directed", "WORK_OF_ART"),
               ("composed", "WORK_OF_ART")],
    "ORG": [("headquartered in", "GPE"), ("acquired", "ORG"), ("subsidiary of", "ORG"),
            ("partnered with", "ORG"), ("published", "WORK_OF_ART"), ("sponsored", "PERSON")],
    "GPE": [("located in", "GPE"), ("twinned with", "GPE")],
    "WORK_OF_ART": [("set in", "GPE"), ("about", "PERSON"), ("adapted from", "WORK_OF_ART")],
}

Fact = tuple[int, str, int]


@dataclass(frozen=True)
class Corpus:
    """Entities as (name, type) and documents as lists of facts (subject, predicate, object)."""

    entities: list[tuple[str, str]]
    documents: list[list[Fact]]

    @property
    def relations(self) -> int:
        """How many facts the corpus states."""
        return sum(len(doc) for doc in self.documents)


def _person(rng: random.Random) -> str:
    first, last = rng.choice(FIRST), rng.choice(LAST)
    roll = rng.random()
    middle = rng.choice(FIRST)
    if roll < 0.15 and middle != first:
        return f"{first} {middle} {last}"
    if roll < 0.6:
        return f"{first} {rng.choice(string.ascii_uppercase)}. {last}"
    return f"{first} {last}"


def _org(rng: random.Random) -> str:
    roll = rng.random()
    if roll < 0.35:
        return f"{rng.choice(LAST)} {rng.choice(INDUSTRY)}"
    if roll < 0.7:
        return f"{rng.choice(ADJECTIVES)} {rng.choice(NOUNS)} {rng.choice(INDUSTRY)}"
    if roll < 0.9:
        return f"{place_word(rng)} {rng.choice(INSTITUTIONS)}"
    return f"University of {place_word(rng)}"


def _work(rng: random.Random) -> str:
    return rng.choice(WORK_FORMS).format(
        adj=rng.choice(ADJECTIVES), noun=rng.choice(NOUNS), place=place_word(rng),
        first=rng.choice(FIRST), last=rng.choice(LAST), n=rng.randint(1, 12))


MAKERS: dict[str, Callable[[random.Random], str]] = {
    "PERSON": _person, "ORG": _org, "GPE": place, "WORK_OF_ART": _work}


def make_entities(rng: random.Random, total: int) -> list[tuple[str, str]]:
    """`total` (name, type) pairs whose normalised names are all different."""
    counts = [round(total * share) for _, share in TYPE_SHARES[:-1]]
    counts.append(total - sum(counts))
    seen: set[str] = set()
    entities: list[tuple[str, str]] = []
    for (etype, _), count in zip(TYPE_SHARES, counts, strict=True):
        made = 0
        while made < count:
            name = MAKERS[etype](rng)
            if normalize_name(name) not in seen:
                seen.add(normalize_name(name))
                entities.append((name, etype))
                made += 1
    rng.shuffle(entities)
    return entities


class _Picker:
    """Zipf-like choice of an entity of one type, so some entities are hubs, as in real corpora."""

    def __init__(self, indices: list[int]) -> None:
        self.indices = indices
        self.weights = list(itertools.accumulate(1.0 / (r + 1) ** 0.8 for r in range(len(indices))))

    def pick(self, rng: random.Random) -> int:
        return rng.choices(self.indices, cum_weights=self.weights)[0]


def make_facts(rng: random.Random, entities: list[tuple[str, str]], count: int) -> list[Fact]:
    """`count` distinct facts; entity i is the subject of fact i, so every entity takes part."""
    by_type = {etype: [i for i, (_, t) in enumerate(entities) if t == etype]
               for etype, _ in TYPE_SHARES}
    pickers = {etype: _Picker(ids) for etype, ids in by_type.items() if ids}
    subjects = _Picker(list(range(len(entities))))
    seen: set[Fact] = set()
    facts: list[Fact] = []
    while len(facts) < count:
        subject = len(facts) if len(facts) < len(entities) else subjects.pick(rng)
        predicate, object_type = rng.choice(PREDICATES[entities[subject][1]])
        if object_type not in pickers:
            continue
        fact = (subject, predicate, pickers[object_type].pick(rng))
        if fact[2] != subject and fact not in seen:
            seen.add(fact)
            facts.append(fact)
    return facts


def make_corpus(seed: int, entities: int, relations: int, relations_per_doc: int) -> Corpus:
    """Entities and facts, shuffled into documents of `relations_per_doc` facts each."""
    if entities > relations:
        raise ValueError(f"need at least as many relations as entities ({entities:,})")
    rng = random.Random(seed)
    names = make_entities(rng, entities)
    facts = make_facts(rng, names, relations)
    rng.shuffle(facts)
    docs = [facts[i:i + relations_per_doc] for i in range(0, len(facts), relations_per_doc)]
    return Corpus(names, docs)


# --- progress and Neo4j housekeeping --------------------------------------------------------------


def log(message: str) -> None:
    """A progress line on stderr."""
    print(message, file=sys.stderr, flush=True)


@dataclass(frozen=True)
class Neo4jTarget:
    """Where to write; the password never appears in a repr or a message."""

    uri: str
    username: str
    password: str = field(repr=False)
    database: str | None = None

    def driver(self):
        """A new driver for this server."""
        import neo4j

        return neo4j.GraphDatabase.driver(self.uri, auth=(self.username, self.password))


@contextmanager
def neo4j_target() -> Iterator[Neo4jTarget]:
    """The server named by NEO4J_URI, or a test server started for this run."""
    uri = os.environ.get("NEO4J_URI")
    database = os.environ.get("NEO4J_DATABASE") or None
    if uri:
        password = os.environ.get("NEO4J_PASSWORD")
        if password is None:
            raise SystemExit("NEO4J_URI is set but NEO4J_PASSWORD is not: export it, or unset "
                             "NEO4J_URI to let the benchmark start its own Neo4j.")
        yield Neo4jTarget(uri, os.environ.get("NEO4J_USERNAME", "neo4j"), password, database)
        return
    from kgx.testing.neo4j_server import running_server

    log("NEO4J_URI is not set: starting the test Neo4j server")
    with running_server() as server:
        yield Neo4jTarget(server.uri, server.username, server.password)


def clear_database(driver, database: str | None) -> None:
    """Delete everything in batches, then drop every constraint and index but the token lookups."""
    with driver.session(database=database) as session:
        for what in ("MATCH ()-[x]->()", "MATCH (x)"):
            session.run(f"{what} CALL (x) {{ DELETE x }} IN TRANSACTIONS OF 50000 ROWS").consume()
    for show, drop in (("SHOW CONSTRAINTS YIELD name", "DROP CONSTRAINT"),
                       ("SHOW INDEXES YIELD name, type, owningConstraint WHERE type <> 'LOOKUP' "
                        "AND owningConstraint IS NULL RETURN name", "DROP INDEX")):
        for record in driver.execute_query(show, database_=database).records:
            driver.execute_query(f"{drop} `{record['name']}`", database_=database)


def neo4j_counts(driver, database: str | None) -> dict[str, int]:
    """Nodes and relationships in the whole database, and how many carry the written properties."""
    nodes = driver.execute_query("MATCH (n) RETURN count(n) AS n, count(n.name) AS named",
                                 database_=database).records[0]
    edges = driver.execute_query("MATCH ()-[r]->() RETURN count(r) AS n, count(r.doc_id) AS src",
                                 database_=database).records[0]
    return {"nodes": nodes["n"], "named_nodes": nodes["named"],
            "relationships": edges["n"], "relationships_with_provenance": edges["src"]}


def neo4j_version(driver, database: str | None) -> str:
    """The server's version string."""
    records = driver.execute_query("CALL dbms.components() YIELD versions RETURN versions[0] AS v",
                                   database_=database).records
    return records[0]["v"]


# --- timing and checks ----------------------------------------------------------------------------


def check_counts(writer: str, counts: dict[str, int], entities: int, relations: int) -> None:
    """Fail the run unless the writer stored exactly the graph it was given."""
    expected = {"nodes": entities, "named_nodes": entities, "relationships": relations,
                "relationships_with_provenance": relations}
    if counts != expected:
        raise SystemExit(f"{writer} did not write the whole graph: found {counts}, "
                         f"expected {expected}. Its timing would be meaningless.")


def timed(label: str, write: Callable[[], object]) -> float:
    """Seconds one write takes; the inputs, built beforehand, are frozen out of the GC's scans."""
    gc.collect()
    gc.freeze()
    try:
        start = time.perf_counter()
        write()
        seconds = time.perf_counter() - start
    finally:
        gc.unfreeze()
    log(f"  {label:<44} {seconds:8.2f} s")
    return seconds


def driver_info() -> dict[str, object]:
    """The neo4j driver's version, and whether its Rust packstream extension is installed."""
    from importlib.metadata import version
    from importlib.util import find_spec

    return {"neo4j": version("neo4j"), "rust_ext": find_spec("neo4j._rust") is not None}
