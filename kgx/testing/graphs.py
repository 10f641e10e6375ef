"""Small hand-built graphs for tests of stores, exports and retrieval."""

from __future__ import annotations

from collections.abc import Callable, Mapping

from kgx.models import Chunk, Document, Entity, GraphBatch, Proposition, Provenance, Relation

EXTRACTOR = "test.handmade.v1"


def ada_batch(run_id: str = "run_test") -> GraphBatch:
    """Two documents about Ada Lovelace and Charles Babbage, with every node and edge kind."""
    doc1 = Document(title="Ada", text="Ada Lovelace worked with Charles Babbage. "
                                      "She wrote the first program.", source="ada.txt")
    doc2 = Document(title="Babbage", text="Charles Babbage designed the Analytical Engine.",
                    source="babbage.txt", external_id="wiki-2")
    c1 = _whole_chunk(doc1)
    c2 = _whole_chunk(doc2)
    ada = Entity(name="Ada Lovelace", type="PERSON", aliases=("Ada",))
    babbage = Entity(name="Charles Babbage", type="PERSON")
    engine = Entity(name="Analytical Engine", type="PRODUCT")
    program = Entity(name="first program", type="CONCEPT")
    facts = [
        (doc1, c1, ada, "worked with", babbage, 0, 41),
        (doc1, c1, ada, "wrote", program, 42, 70),
        (doc2, c2, babbage, "designed", engine, 0, 47),
    ]
    relations = [
        Relation(subject=s, predicate=p, object=o, evidence=d.text[a:b], confidence=0.9,
                 provenance=_provenance(d, c, a, b, run_id))
        for d, c, s, p, o, a, b in facts
    ]
    proposition = Proposition(text="Ada Lovelace worked with Charles Babbage.",
                              entities=(ada, babbage),
                              provenance=_provenance(doc1, c1, 0, 41, run_id))
    return GraphBatch(
        documents=[doc1, doc2], chunks=[c1, c2], entities=[ada, babbage, engine, program],
        mentions=[(c1.id, ada.id), (c1.id, babbage.id), (c1.id, program.id),
                  (c2.id, babbage.id), (c2.id, engine.id)],
        relations=relations, propositions=[proposition],
        completed_key=EXTRACTOR, completed=[doc1.id, doc2.id],
    )


def _whole_chunk(doc: Document) -> Chunk:
    return Chunk(doc_id=doc.id, index=0, text=doc.text, start=0, end=len(doc.text),
                 n_tokens=len(doc.text.split()))


def _provenance(doc: Document, chunk: Chunk, start: int, end: int, run_id: str) -> Provenance:
    return Provenance(doc_id=doc.id, chunk_id=chunk.id, start=start, end=end,
                      extractor=EXTRACTOR, extractor_version="1", model="handmade",
                      prompt_version="none.v1", run_id=run_id)


def with_surfaces(batch: GraphBatch, *extra: tuple[str, str, str]) -> GraphBatch:
    """`batch` with each mention naming its entity by the entity's name, plus `extra`
    (chunk id, entity id, surface) triples: how a pipeline batch records aliases."""
    names = {e.id: e.name for e in batch.entities}
    surfaces = [(chunk, entity, names[entity]) for chunk, entity in batch.mentions]
    return batch.model_copy(update={"surfaces": surfaces + list(extra)})


def ada_batches() -> tuple[GraphBatch, GraphBatch]:
    """(only the Ada document, both documents) as a pipeline would write them.

    The Babbage document calls Ada Lovelace "Countess of Lovelace" and Babbage "Babbage": the
    aliases it alone adds. Deleting it from the second must give the first.
    """
    both = ada_batch()
    ada_doc = both.documents[0]
    c1, c2 = both.chunks
    ada, babbage, engine, program = both.entities
    ada_b = ada.model_copy(update={"aliases": ("Ada", "Countess of Lovelace")})
    babbage_b = babbage.model_copy(update={"aliases": ("Babbage",)})
    full = both.model_copy(update={
        "entities": [ada_b, babbage_b, engine, program],
        "mentions": [*both.mentions, (c2.id, ada.id)],
    })
    full = with_surfaces(full, (c1.id, ada.id, "Ada"), (c2.id, ada.id, "Countess of Lovelace"),
                         (c2.id, babbage.id, "Babbage"))
    only_a = GraphBatch(
        documents=[ada_doc], chunks=[c1], entities=[ada, babbage, program],
        mentions=[m for m in both.mentions if m[0] == c1.id],
        relations=[r for r in both.relations if r.provenance.doc_id == ada_doc.id],
        propositions=both.propositions, completed_key=EXTRACTOR, completed=[ada_doc.id])
    return with_surfaces(only_a, (c1.id, ada.id, "Ada")), full


def passages_batch(passages: Mapping[str, tuple], entities: Mapping[str, Entity],
                   extractor: str, external_id: Callable[[str], str] = str) -> GraphBatch:
    """One single-chunk document per passage, with its mentions and facts, completed by
    `extractor`. `passages` maps a key to (title, text, relations) or (title, text, relations,
    propositions); relations are (subject, predicate, object) names and propositions (text,
    names), each name a key of `entities`."""
    batch = GraphBatch(completed_key=extractor)
    for key, (title, text, relations, *rest) in passages.items():
        propositions = rest[0] if rest else []
        doc = Document(title=title, text=text, external_id=external_id(key))
        chunk = _whole_chunk(doc)
        provenance = Provenance(doc_id=doc.id, chunk_id=chunk.id, start=0, end=len(text),
                                extractor=extractor, extractor_version="1")
        names = sorted({n for s, _, o in relations for n in (s, o)}
                       | {n for _, about in propositions for n in about})
        batch.documents.append(doc)
        batch.chunks.append(chunk)
        batch.entities += [entities[n] for n in names]
        batch.mentions += [(chunk.id, entities[n].id) for n in names]
        batch.relations += [Relation(subject=entities[s], predicate=p, object=entities[o],
                                     provenance=provenance) for s, p, o in relations]
        batch.propositions += [
            Proposition(text=t, entities=tuple(entities[n] for n in about),
                        provenance=provenance) for t, about in propositions]
        batch.completed.append(doc.id)
    return batch
