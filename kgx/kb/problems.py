"""Math word problems (GSM8K JSONL), their numeric answers, and the build/held-out split.

    problems = load_problems(Path("gsm8k_test.jsonl"), limit=40)
    problems[0].answer                     # "18", from the solution's final "#### 18"
    extract_answer("... so the answer is $1,250.")   # "1250"
    train, held_out = split_problems(problems, held_out=0.5, seed=0)
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from decimal import Decimal, InvalidOperation
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from kgx.errors import ConfigError, InputError
from kgx.ids import stable_id
from kgx.jsonfiles import read_jsonl

_NUMBER = r"-?\d[\d,]*(?:\.\d+)?|-?\.\d+"
_MARKED = re.compile(rf"####\s*\$?\s*({_NUMBER})")
_STATED = re.compile(rf"answer\s+is\s*:?\s*\$?\s*({_NUMBER})", re.IGNORECASE)
_ANY = re.compile(_NUMBER)


class Problem(BaseModel):
    """One problem: the question, its numeric gold answer, the worked solution, its source."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    question: str = Field(min_length=1)
    answer: str = Field(min_length=1, description="the gold answer as a normalised number")
    solution: str = ""
    source: str = ""
    """file:line it was read from."""

    @property
    def id(self) -> str:
        """A stable id from the question text, the same in every file it appears in."""
        return stable_id("prob", self.question.strip())


def normalize_number(text: str) -> str | None:
    """A number as its shortest decimal text ("1,000.50" → "1000.5", "$18" → "18"), or None."""
    cleaned = text.replace(",", "").replace("$", "").strip().rstrip(".")
    try:
        value = Decimal(cleaned)
    except InvalidOperation:
        return None
    if not value.is_finite():
        return None
    if value == value.to_integral_value():
        return str(value.quantize(Decimal(1)))
    return format(value.normalize(), "f")


def gold_answer(solution: str) -> str | None:
    """The number after the last "####" of a GSM8K solution, normalised; None if it has none."""
    found = _MARKED.findall(solution)
    return normalize_number(found[-1]) if found else None


def extract_answer(reply: str) -> str | None:
    """A model's final answer: its "#### N", else "the answer is N", else its last number."""
    for pattern in (_MARKED, _STATED, _ANY):
        found = pattern.findall(reply)
        if found:
            return normalize_number(found[-1])
    return None


def answers_match(predicted: str | None, gold: str) -> bool:
    """Whether two normalised numbers are equal (1e-6 tolerance for decimals)."""
    if predicted is None:
        return False
    try:
        return abs(Decimal(predicted) - Decimal(gold)) < Decimal("1e-6")
    except InvalidOperation:
        return False


def load_problems(path: Path, limit: int | None = None) -> list[Problem]:
    """GSM8K-style JSONL ({"question", "answer": "... #### N"}), in file order.

    A line without a question, or whose answer has no number, is an `InputError` naming file
    and line. A plain number is accepted as the answer too.
    """
    problems = []
    for number, record in read_jsonl(path):
        problems.append(_problem(record, f"{path}:{number}", f"{path.name}:{number}"))
        if limit is not None and len(problems) >= limit:
            break
    if not problems:
        raise InputError(f"{path} holds no problems; expected one JSON object per line with "
                         '"question" and "answer".')
    return problems


def _problem(record: dict, where: str, source: str) -> Problem:
    question, answer = record.get("question"), record.get("answer")
    if not isinstance(question, str) or not question.strip():
        raise InputError(f'{where}: "question" must be a non-empty string.')
    if isinstance(answer, int | float) and not isinstance(answer, bool):
        answer = str(answer)
    if not isinstance(answer, str):
        raise InputError(f'{where}: "answer" must be a string ending in "#### N", or a number.')
    gold = gold_answer(answer) or normalize_number(answer)
    if gold is None:
        raise InputError(f'{where}: the answer has no "#### N" final number; fix that line.')
    return Problem(question=question.strip(), answer=gold, solution=answer, source=source)


def split_problems(problems: Sequence[Problem], *, held_out: float = 0.5,
                   seed: int = 0) -> tuple[list[Problem], list[Problem]]:
    """(build, held-out) problems, keeping file order.

    A problem's side depends only on its question and `seed`, never on the file's order or a
    --limit, so `kgx kb build` and `kgx eval kb` given the same file and seed never share one.
    """
    if not 0.0 <= held_out <= 1.0:
        raise ConfigError(f"held_out must be a fraction between 0 and 1, got {held_out}.")
    build, test = [], []
    for problem in problems:
        (test if _draw(problem, seed) < held_out else build).append(problem)
    return build, test


def _draw(problem: Problem, seed: int) -> float:
    """A uniform number in [0, 1) fixed by the question and the seed."""
    digest = hashlib.blake2b(f"{seed}\x1f{problem.question.strip()}".encode(), digest_size=8)
    return int.from_bytes(digest.digest(), "big") / 2**64
