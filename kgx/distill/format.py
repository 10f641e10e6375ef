"""The student's contract: its prompt, its reply format and how a teacher's output becomes its
training target. Training and inference both build messages here, so they cannot drift apart.

Two reply formats exist; an adapter records the one it learned (`student_format.json`):

- `student.graph.v2` (the default since student v2), compact lines. Entities come first, one per
  line, numbered, in the order they first appear in the passage (a left-to-right copy task, not a
  sort); a `---` line; then one triple per line whose ends are entity numbers, or text where the
  end is no listed entity:

      1 Ada Lovelace
      2 Charles Babbage
      3 first program
      ---
      1|wrote|3
      1|worked with|2

- `student.graph.v1`, one JSON object `{"entities": [...], "triples": [[s, p, o], ...]}`, with
  the teacher's entity order and every triple end written out (student v1).

    fmt = student_format("v2")
    messages = fmt.messages("Ada Lovelace wrote the first program.")
    target = fmt.target(["Ada Lovelace"], [("Ada Lovelace", "wrote", "first program")], text=...)
    graph = fmt.parse(reply_text)
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field

PROMPT_VERSION = "student.graph.v1"
"""The JSON format of student v1; a new prompt or target format is a new version."""
PROMPT_VERSION_V2 = "student.graph.v2"
"""The compact line format with numbered triple ends (an ablation; see docs/student_v2.md)."""
PROMPT_VERSION_V3 = "student.graph.v3"
"""The compact line format of student v2: numbered entities, then triples written out."""
FORMAT_FILE = "student_format.json"
"""Written beside a trained adapter: the reply format it learned. None there means v1."""

SYSTEM = ("You extract a knowledge graph from a passage in one pass. Reply with JSON only: "
          '{"entities": [names], "triples": [[subject, predicate, object]]}, and '
          '"propositions": [atomic statements] when asked for them.')
PROPOSITIONS_HINT = "\n\nAlso list the passage's propositions."

TripleList = Annotated[list[str], Field(min_length=3, max_length=3)]


MAX_ENTITIES = 32
MAX_TRIPLES = 32
MAX_PROPOSITIONS = 32


class StudentGraph(BaseModel):
    """The student's reply: entity names, (subject, predicate, object) triples, propositions.

    The list bounds go into the decoding grammar: a small model that starts repeating an entity
    is made to move on to the triples instead of looping until the token cap (the teacher's
    passages have 9 entities and 9 triples on average).
    """

    entities: list[str] = Field(default_factory=list, max_length=MAX_ENTITIES)
    triples: list[TripleList] = Field(default_factory=list, max_length=MAX_TRIPLES)
    propositions: list[str] = Field(default_factory=list, max_length=MAX_PROPOSITIONS)


def student_messages(text: str, *, propositions: bool = False) -> list[dict[str, str]]:
    """System and user messages of the v1 student's prompt for one passage or chunk."""
    return FORMATS["v1"].messages(text, propositions=propositions)


def student_target(entities: Iterable[str], triples: Iterable[Sequence[str]],
                   propositions: Iterable[str] = ()) -> str:
    """The compact JSON reply the student learns to write; "propositions" only when given.

    Entities keep the teacher's order with duplicates dropped; triples that are not exactly
    three non-empty strings are dropped, since the schema cannot hold them.
    """
    reply: dict[str, Any] = {
        "entities": list(dict.fromkeys(e.strip() for e in entities if e and e.strip())),
        "triples": [[str(part).strip() for part in t] for t in triples
                    if len(t) == 3 and all(str(part).strip() for part in t)],
    }
    kept = [p.strip() for p in propositions if p and p.strip()]
    if kept:
        reply["propositions"] = kept
    return json.dumps(reply, ensure_ascii=False, separators=(",", ":"))


# -- v2: compact lines ---------------------------------------------------------------------

SYSTEM_V2 = ("Extract the knowledge graph of the passage. List its entities in order of "
             "appearance, one per line, numbered; then a line ---; then triples "
             "subject|predicate|object, naming entities by number.")
SYSTEM_V3 = ("Extract the knowledge graph of the passage. List its entities in order of "
             "appearance, one per line, numbered; then a line ---; then triples "
             "subject|predicate|object.")
SECTION = "---"
_NUMBERED = re.compile(r"^(\d+)\s+(.+)$")


def entities_in_order(entities: Iterable[str], text: str) -> list[str]:
    """Distinct entities ordered by where they first appear in `text` (case-insensitive); those
    not found keep their order, after the rest."""
    names = list(dict.fromkeys(e.strip() for e in entities if e and e.strip()))
    folded = text.casefold()
    where = {name: folded.find(name.casefold()) for name in names}
    return sorted(names, key=lambda n: (where[n] < 0, where[n] if where[n] >= 0 else 0))


def lines_target(entities: Iterable[str], triples: Iterable[Sequence[str]], text: str,
                 propositions: Iterable[str] = (), *, numbered_ends: bool = True) -> str:
    """The v2 reply: numbered entities in order of appearance, `---`, triples by number.

    A triple end that is a listed entity (ignoring case) is written as its number; any other
    end is written out, in quotes when it is all digits so it cannot be read as a number.
    Propositions, when given, follow a second `---`, one per line. Without `numbered_ends`
    (format v3) every triple end is written out."""
    names = entities_in_order(entities, text)
    number = ({name.casefold(): str(i) for i, name in enumerate(names, 1)} if numbered_ends
              else {})
    lines = [f"{i} {_one_line(name)}" for i, name in enumerate(names, 1)]
    lines.append(SECTION)
    for triple in triples:
        parts = [_one_line(str(part)) for part in triple] if len(triple) == 3 else []
        if len(parts) != 3 or not all(parts):
            continue
        literal = _literal if numbered_ends else _no_bars
        s, p, o = (number.get(parts[0].casefold(), literal(parts[0])), parts[1].replace("|", "/"),
                   number.get(parts[2].casefold(), literal(parts[2])))
        lines.append(f"{s}|{p}|{o}")
    kept = [_one_line(p) for p in propositions if p and p.strip()]
    if kept:
        lines += [SECTION, *kept]
    return "\n".join(lines)


class ParsedGraph(StudentGraph):
    """A parsed v2 reply, with the lines that did not fit the format (none in a valid reply)."""

    malformed: list[str] = Field(default_factory=list)


def parse_lines(reply: str, *, numbered_ends: bool = True) -> ParsedGraph:
    """Read a v2 reply. Lines that fit no section are kept in `malformed`, never guessed at;
    so are triples whose end is a number that names no entity (a number written as text is
    quoted in this format)."""
    section, names = 0, {}
    entities: list[str] = []
    triples: list[list[str]] = []
    propositions: list[str] = []
    malformed: list[str] = []
    for raw in reply.splitlines():
        line = raw.strip()
        if not line:
            continue
        if line == SECTION:
            section += 1
            continue
        if section == 0:
            match = _NUMBERED.match(line)
            if match:
                names[match.group(1)] = match.group(2).strip()
                entities.append(match.group(2).strip())
            else:
                malformed.append(line)
        elif section == 1:
            parts = [part.strip() for part in line.split("|")]
            if not numbered_ends:
                if len(parts) == 3 and all(parts):
                    triples.append(parts)
                else:
                    malformed.append(line)
            elif len(parts) == 3 and all(parts) and all(
                    not end.isdigit() or end in names for end in (parts[0], parts[2])):
                triples.append([_end(parts[0], names), parts[1], _end(parts[2], names)])
            else:
                malformed.append(line)
        else:
            propositions.append(line)
    return ParsedGraph(entities=list(dict.fromkeys(entities))[:MAX_ENTITIES],
                       triples=triples[:MAX_TRIPLES], propositions=propositions[:MAX_PROPOSITIONS],
                       malformed=malformed)


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _literal(end: str) -> str:
    return f'"{end}"' if end.isdigit() else end


def _no_bars(end: str) -> str:
    return end.replace("|", "/")


def _end(part: str, names: dict[str, str]) -> str:
    if part.isdigit():
        return names.get(part, part)
    if len(part) >= 2 and part[0] == part[-1] == '"':
        return part[1:-1]
    return part


# -- the two formats behind one interface ------------------------------------------------

FormatName = Literal["v1", "v2", "v3"]


@dataclass(frozen=True)
class StudentFormat:
    """One reply format: its prompt, its training target and its reader."""

    name: FormatName
    version: str
    """The prompt version stored with every fact extracted in this format."""
    system: str

    @property
    def response_model(self) -> type[BaseModel] | None:
        """The JSON schema the reply is decoded under (v1), or None for free text (v2)."""
        return StudentGraph if self.name == "v1" else None

    def messages(self, text: str, *, propositions: bool = False) -> list[dict[str, str]]:
        user = text.strip() + (PROPOSITIONS_HINT if propositions else "")
        return [{"role": "system", "content": self.system}, {"role": "user", "content": user}]

    def target(self, entities: Iterable[str], triples: Iterable[Sequence[str]], *, text: str,
               propositions: Iterable[str] = ()) -> str:
        if self.name == "v1":
            return student_target(entities, triples, propositions)
        return lines_target(entities, triples, text, propositions,
                            numbered_ends=self.numbered_ends)

    def parse(self, reply: str) -> ParsedGraph:
        """The reply as a graph; raises ValueError when a v1 reply is not valid JSON."""
        if self.name == "v1":
            return ParsedGraph.model_validate_json(reply)
        return parse_lines(reply, numbered_ends=self.numbered_ends)

    @property
    def numbered_ends(self) -> bool:
        """Whether triples point at entities by number (v2) rather than by name."""
        return self.name == "v2"


FORMATS: dict[str, StudentFormat] = {
    "v1": StudentFormat("v1", PROMPT_VERSION, SYSTEM),
    "v2": StudentFormat("v2", PROMPT_VERSION_V2, SYSTEM_V2),
    "v3": StudentFormat("v3", PROMPT_VERSION_V3, SYSTEM_V3),
}
DEFAULT_FORMAT: FormatName = "v3"


def student_format(name: str = DEFAULT_FORMAT) -> StudentFormat:
    """The format called `name` ("v1", "v2", or a prompt version such as "student.graph.v2")."""
    for fmt in FORMATS.values():
        if name in (fmt.name, fmt.version):
            return fmt
    raise ValueError(f"unknown student format {name!r}; use one of {sorted(FORMATS)}")


def adapter_format(folder: Any) -> StudentFormat:
    """The format a trained student in `folder` learned: its `student_format.json`, else v1
    (adapters from before v2 have no such file)."""
    from pathlib import Path

    path = Path(folder) / FORMAT_FILE
    if not path.is_file():
        return FORMATS["v1"]
    return student_format(json.loads(path.read_text(encoding="utf-8"))["format"])
