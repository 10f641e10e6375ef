"""Text2Cypher retrieval: an LLM writes one read-only Cypher query from the graph's schema.

The LLM's query is the only query text; kgx never pastes the question or any value into it.
Before it runs, kgx refuses write clauses, procedure calls, parameters and several statements,
caps its rows with a LIMIT, and asks the database to EXPLAIN it: Neo4j and LadybugDB both
parse, bind and plan a query under EXPLAIN without running it, so unknown properties (on
LadybugDB), typos and syntax errors surface there. The query then runs read-only: in a read
transaction on Neo4j; on LadybugDB behind the store's write-clause guard, in a transaction
that is rolled back. Rows beyond `row_limit` are dropped even where the LIMIT cannot reach
(a UNION's earlier branches).

When the check or the run fails, the error goes back to the LLM once for a corrected query. A
second failure raises `LLMOutputError`; under ``on_error="skip-and-record"`` it returns no
chunks instead, with the error in `last_error` and appended to `failures`.

Rows map back to chunks through bound parameters only: a value equal to a chunk's id or text
names that chunk; one equal to a document's id, external id or title names its chunks; one
equal to a proposition's id or text names the chunk it came from; one equal to an entity's id
or name names the chunks that mention it. A chunk scores the number of distinct row values
that lead to it, and carries those rows, as short strings, as its evidence.
"""

from __future__ import annotations

import json
import logging
import re
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, Field

from kgx.errors import ConfigError, LLMOutputError, ReadOnlyQueryError, StoreError
from kgx.graphdb import GraphStore, cypher
from kgx.graphdb.readonly import write_clause
from kgx.graphdb.schema import GRAPH_LABELS, NODE_BY_LABEL, RELATIONSHIPS
from kgx.llm.prompts import PromptTemplate
from kgx.llm.protocol import LLM, Metered
from kgx.llm.types import LLMRequest, Message

from .protocol import RetrievedChunk

logger = logging.getLogger(__name__)

OnError = Literal["raise", "skip-and-record"]
EXAMPLE_VALUES = 8
EVIDENCE_PER_CHUNK = 5
ROW_CHARS = 200

# Bookkeeping properties a question never asks about; hiding them keeps the prompt short.
_HIDDEN_PROPERTIES = {"extractor", "extractor_version", "model", "prompt_version", "run_id",
                      "start_char", "end_char", "n_tokens", "extracted_with", "source",
                      "surfaces", "page_starts"}
_HIDDEN_BY_LABEL = {"Document": {"text"}}


class CypherQuery(BaseModel):
    """The LLM's reply: one read-only Cypher query."""

    cypher: str = Field(description="one read-only Cypher query: MATCH ... RETURN ...")


TEXT2CYPHER_QUERY = PromptTemplate(
    name="text2cypher.query.v1",
    system="You translate questions into Cypher queries over a knowledge graph. "
           "Reply with JSON only.",
    user=("Write ONE read-only Cypher query that finds what the QUESTION asks for in this "
          "graph.\n\nGRAPH SCHEMA:\n{schema}\n\n"
          "Rules:\n"
          "- Use only the labels, relationship types and properties above.\n"
          "- Facts between entities are (:Entity)-[r:RELATION]->(:Entity) with the verb in "
          "r.predicate; filter on r.predicate, never on relationship types.\n"
          "- Match names and predicates loosely, with toLower(...) CONTAINS '...'.\n"
          "- Give every RETURN column a name, and return entity names, chunk ids or chunk "
          "texts; never ORDER BY a whole node.\n"
          "- No parameters ($x), no CALL, no type(r), no CREATE, MERGE, SET, DELETE or "
          "REMOVE.\n\n"
          "For example, for \"Where was Marie Curie born?\":\n"
          "MATCH (s:Entity)-[r:RELATION]->(o:Entity) WHERE toLower(s.name) CONTAINS "
          "'marie curie' AND toLower(r.predicate) CONTAINS 'born' RETURN o.name AS answer\n\n"
          "QUESTION: {question}\n\n"
          'Reply with JSON whose "cypher" key holds your query.'),
    reply=CypherQuery,
    max_tokens=512,
)

TEXT2CYPHER_FIX = PromptTemplate(
    name="text2cypher.fix.v1",
    system=TEXT2CYPHER_QUERY.system,
    user=("That query failed:\n{cypher}\n\nERROR: {error}\n\n"
          "Write a corrected query that follows the rules above. "
          'Reply with JSON whose "cypher" key holds the query.'),
    reply=CypherQuery,
    max_tokens=512,
)


@dataclass(frozen=True)
class CypherAttempt:
    """One query the LLM wrote: as written, as run (limited), and what went wrong, if anything."""

    written: str
    run: str | None = None
    validated: bool = False
    """Whether the database's EXPLAIN accepted it."""
    error: str | None = None


class Text2CypherRetriever:
    """Asks an LLM for one Cypher query per question and maps its rows to chunks.

        retriever = Text2CypherRetriever(store, load_llm("openai:gpt-4o-mini"), row_limit=50)
        chunks = retriever.retrieve("Who designed the Analytical Engine?", top_k=5)
        print(retriever.last_query, retriever.last_rows)

    `on_error` None follows the LLM's own policy (`ManagedLLM.on_error`, else "raise").
    """

    name = "text2cypher"

    def __init__(self, store: GraphStore, llm: LLM, *, row_limit: int = 50,
                 on_error: OnError | None = None, examples: bool = True) -> None:
        if row_limit < 1:
            raise ConfigError(f"row_limit must be at least 1, got {row_limit}.")
        self.store = store
        self.llm = llm
        self.row_limit = row_limit
        self.on_error = on_error
        self.examples = examples
        self.prompt_version = TEXT2CYPHER_QUERY.name
        self.schema: str | None = None
        self.last_query: str | None = None
        """The Cypher that ran for the last question (or was last tried, if none ran)."""
        self.last_rows: list[dict[str, Any]] = []
        self.last_attempts: list[CypherAttempt] = []
        self.last_error: str | None = None
        self.failures: list[tuple[str, str]] = []
        """(question, error) of every question whose query failed twice under skip-and-record."""

    def warm_up(self) -> None:
        """Render the store's schema, with example values, for the prompt."""
        if self.schema is None:
            self.schema = render_schema(self._example_values() if self.examples else {})

    def retrieve(self, question: str, top_k: int = 10) -> list[RetrievedChunk]:
        """The chunks the LLM's query leads to, most row values first."""
        from .corpus import check_request

        check_request(question, top_k)
        self.warm_up()
        self.last_query, self.last_rows, self.last_attempts, self.last_error = None, [], [], None
        try:
            self.last_rows = self._ask_and_run(question)
        except LLMOutputError as e:
            if self._policy() == "raise":
                raise
            self.last_error = str(e)
            self.failures.append((question, str(e)))
            logger.warning("text2cypher: no query for %r: %s", question, e)
            return []
        return self._chunks(self.last_rows, top_k)

    def _policy(self) -> OnError:
        if self.on_error:
            return self.on_error
        return self.llm.on_error if isinstance(self.llm, Metered) else "raise"

    # -- the query ----------------------------------------------------------------------------

    def _ask_and_run(self, question: str) -> list[dict[str, Any]]:
        request = TEXT2CYPHER_QUERY.request("text2cypher", schema=self.schema, question=question)
        written, reply_text = self._generate(request)
        try:
            return self._run(written)
        except StoreError as first:
            fix = _fix_request(request, reply_text, written, str(first))
            written, _ = self._generate(fix)
            try:
                return self._run(written)
            except StoreError as second:
                raise LLMOutputError(
                    f"text2cypher: the LLM's Cypher failed twice, the second time after being "
                    f"shown the error. Last query: {written!r}. Error: {second}. Use a stronger "
                    "model (--llm), another retriever, or on_error='skip-and-record' to record "
                    "the failure and go on.") from second

    def _generate(self, request: LLMRequest) -> tuple[str, str]:
        """The query the LLM wrote and its raw reply; `LLMOutputError` if it wrote none."""
        [response] = self.llm.generate([request])
        if not response.ok or not isinstance(response.parsed, CypherQuery):
            raise LLMOutputError(f"text2cypher: the LLM's reply is not {{\"cypher\": ...}} "
                                 f"JSON ({response.error}); use a stronger model.")
        return response.parsed.cypher, response.text

    def _run(self, written: str) -> list[dict[str, Any]]:
        """Check, EXPLAIN and run one query; its rows, at most `row_limit` of them."""
        limited, validated = None, False
        try:
            limited = guard_query(written, self.row_limit)
            self.store.query(f"EXPLAIN {limited}")
            validated = True
            result = self.store.query(limited)
        except StoreError as e:
            message = _feedback(e)
            self._record(CypherAttempt(written, limited, validated, message))
            raise type(e)(message) from e
        self._record(CypherAttempt(written, limited, validated=True))
        return result.records()[:self.row_limit]

    def _record(self, attempt: CypherAttempt) -> None:
        self.last_query = attempt.run or attempt.written
        self.last_attempts.append(attempt)

    # -- rows to chunks ---------------------------------------------------------------------

    def _chunks(self, rows: list[dict[str, Any]], top_k: int) -> list[RetrievedChunk]:
        row_values = [_strings(row) for row in rows]
        values = sorted(set().union(*row_values))
        if not values:
            return []
        matched = self._matching_chunks(values)

        def first_row(chunk: str) -> int:
            return next(i for i, found in enumerate(row_values) if found & matched[chunk])

        ranked = sorted(matched, key=lambda c: (-len(matched[c]), first_row(c), c))[:top_k]
        details = {row[0]: row for row in self.store.query(cypher.T2C_CHUNK_DETAILS,
                                                           {"ids": ranked}).rows}
        chunks = []
        for chunk_id in ranked:
            if chunk_id not in details:  # a chunk without its document: nothing to cite
                continue
            _, doc_id, text, title, external_id = details[chunk_id]
            evidence = [_row_text(row) for row, found in zip(rows, row_values, strict=True)
                        if found & matched[chunk_id]]
            chunks.append(RetrievedChunk(
                chunk_id=chunk_id, doc_id=doc_id, text=text or "",
                score=float(len(matched[chunk_id])),
                evidence=_evidence(evidence, {chunk_id, text}), title=title,
                external_id=external_id))
        return chunks

    def _matching_chunks(self, values: list[str]) -> dict[str, set[str]]:
        """Chunk id → the row values that lead to it (equal ids, texts, titles or names)."""
        wanted = set(values)
        matched: dict[str, set[str]] = {}
        for query in (cypher.T2C_CHUNKS_BY_VALUE, cypher.T2C_DOCUMENT_CHUNKS_BY_VALUE,
                      cypher.T2C_PROPOSITION_CHUNKS_BY_VALUE,
                      cypher.T2C_MENTIONING_CHUNKS_BY_VALUE):
            for chunk, *candidates in self.store.query(query, {"values": values}).rows:
                matched.setdefault(chunk, set()).update(v for v in candidates if v in wanted)
        return {chunk: found for chunk, found in matched.items() if found}

    def _example_values(self) -> dict[str, list[str]]:
        queries = {"Entity.type": cypher.T2C_ENTITY_TYPES,
                   "RELATION.predicate": cypher.T2C_PREDICATES,
                   "Entity.name": cypher.T2C_ENTITY_NAMES}
        return {where: [row[0] for row in self.store.query(query, {"limit": EXAMPLE_VALUES}).rows]
                for where, query in queries.items()}


# -- the prompt --------------------------------------------------------------------------------

def render_schema(examples: dict[str, list[str]] | None = None) -> str:
    """The graph's labels, properties and relationship types, as Cypher patterns for a prompt.

    `examples` maps "Label.property" to a few stored values, shown after the patterns.
    """
    lines = ["Nodes:"]
    for label in GRAPH_LABELS:
        hidden = _HIDDEN_PROPERTIES | _HIDDEN_BY_LABEL.get(label, set())
        lines.append(f"  (:{label} {_properties(NODE_BY_LABEL[label].properties, hidden)})")
    lines.append("Relationships:")
    for rel in RELATIONSHIPS:
        props = _properties(rel.properties, _HIDDEN_PROPERTIES | {"id", "proposition_id"})
        inner = f":{rel.type} {props}" if props != "{}" else f":{rel.type}"
        lines.append(f"  (:{rel.source})-[{inner}]->(:{rel.target})")
    shown = {where: values for where, values in (examples or {}).items() if values}
    if shown:
        lines.append("Example values:")
        lines += [f"  {where}: {', '.join(json.dumps(v, ensure_ascii=False) for v in values)}"
                  for where, values in shown.items()]
    return "\n".join(lines)


def _properties(properties: dict[str, str], hidden: set[str]) -> str:
    return "{" + ", ".join(f"{name}: {kind}" for name, kind in properties.items()
                           if name not in hidden) + "}"


def _fix_request(request: LLMRequest, reply_text: str, written: str, error: str) -> LLMRequest:
    """The first conversation, the LLM's reply, and the error it caused: one more turn."""
    turn = TEXT2CYPHER_FIX.user.format(cypher=written, error=error)
    messages = (*request.messages, Message(role="assistant", content=reply_text),
                Message(role="user", content=turn))
    return request.model_copy(update={"messages": messages, "key": "text2cypher-fix"})


# -- the guard ---------------------------------------------------------------------------------

# Strings and quoted identifiers are kept (a keyword inside them means nothing); comments go.
_LITERALS_AND_COMMENTS = re.compile(
    r"'(?:[^'\\]|\\.)*'|\"(?:[^\"\\]|\\.)*\"|`[^`]*`|//[^\n]*|/\*.*?\*/", re.DOTALL)
_PROCEDURE_CALL = re.compile(r"\bCALL\b(?!\s*\{)", re.IGNORECASE)
_PARAMETER = re.compile(r"\$\s*\w")
_PLAN_PREFIX = re.compile(r"^\s*(EXPLAIN|PROFILE)\b", re.IGNORECASE)
_RETURN = re.compile(r"\bRETURN\b", re.IGNORECASE)
_FINAL_LIMIT = re.compile(r"\bLIMIT\s+(\d+)\s*$", re.IGNORECASE)
_LIMIT = re.compile(r"\bLIMIT\b", re.IGNORECASE)


def guard_query(query: str, row_limit: int) -> str:
    """`query` ready to run read-only: one statement, a RETURN, at most `row_limit` rows.

    Raises `ReadOnlyQueryError` for a write clause or procedure call, `StoreError` for anything
    else it cannot run safely; either message is written for the LLM to correct the query.
    """
    text = _LITERALS_AND_COMMENTS.sub(
        lambda m: " " if m.group().startswith("/") else m.group(), query).strip()
    text = text.rstrip(";").strip()
    masked = _LITERALS_AND_COMMENTS.sub(lambda m: " " * len(m.group()), text)
    clause = write_clause(text)
    if clause:
        raise ReadOnlyQueryError(f"the query contains {clause}, but only read queries are "
                                 "allowed: MATCH ... RETURN ...")
    if _PROCEDURE_CALL.search(masked):
        raise ReadOnlyQueryError("the query CALLs a procedure; only MATCH ... RETURN ... "
                                 "queries are allowed")
    problem = _problem(masked)
    if problem:
        raise StoreError(problem)
    last_return = list(_RETURN.finditer(masked))[-1]
    return _limited(text, masked, last_return.end(), row_limit)


def _problem(masked: str) -> str | None:
    if not masked.strip():
        return "the query is empty; write MATCH ... RETURN ..."
    if ";" in masked:
        return "the query has several statements; write exactly one"
    if _PLAN_PREFIX.search(masked):
        return "the query starts with EXPLAIN or PROFILE; write the query alone"
    if _PARAMETER.search(masked):
        return "the query uses $parameters; write the values into the query as literals"
    if not _RETURN.search(masked):
        return "the query has no RETURN clause; end it with RETURN ... AS name"
    return None


def _limited(text: str, masked: str, tail: int, row_limit: int) -> str:
    """`text` with its final LIMIT lowered to `row_limit`, or `LIMIT row_limit` appended."""
    final = _FINAL_LIMIT.search(masked, tail)
    if final:
        limit = min(int(final.group(1)), row_limit)
        return f"{text[:final.start(1)]}{limit}"
    if _LIMIT.search(masked, tail):
        raise StoreError("the query's LIMIT must be a whole number at the very end, e.g. "
                         "RETURN e.name AS name LIMIT 10")
    return f"{text} LIMIT {row_limit}"


def _feedback(error: StoreError) -> str:
    """The store's message without advice meant for people (e.g. 'Pass write=True')."""
    if isinstance(error, ReadOnlyQueryError) and "write=True" in str(error):
        return "the query writes to the graph, but only read queries are allowed"
    return str(error)


# -- rows --------------------------------------------------------------------------------------

def _strings(value: Any) -> set[str]:
    """Every non-empty string in a cell or row (nodes and relationships included)."""
    if isinstance(value, str):
        return {value} if value.strip() else set()
    if isinstance(value, dict):
        return set().union(*(_strings(v) for k, v in value.items() if not k.startswith("_")))
    if isinstance(value, list | tuple):
        return set().union(*(_strings(v) for v in value))
    return set()


def _evidence(rows: list[str], itself: set[str]) -> tuple[str, ...]:
    """The first few distinct rows, leaving out those that only repeat the chunk's id or text."""
    kept = [row for row in dict.fromkeys(rows) if row not in itself]
    return tuple(kept[:EVIDENCE_PER_CHUNK])


def _row_text(row: dict[str, Any]) -> str:
    """A row as a short fact: its cells joined with " | "."""
    text = " | ".join(_cell(v) for v in row.values() if v not in (None, "", []))
    return text if len(text) <= ROW_CHARS else text[:ROW_CHARS - 1] + "…"


def _cell(value: Any) -> str:
    if isinstance(value, dict):
        for key in ("name", "title", "predicate", "text", "id"):
            if value.get(key):
                return _cell(value[key])
        return json.dumps(value, ensure_ascii=False, default=str)
    if isinstance(value, list):
        return ", ".join(_cell(v) for v in value)
    return str(value)
