"""The NesyCD prompts: the student solving a problem (with retrieved entries), the teacher
writing an entry about a mistake. Changing what a prompt says means a new version name."""

from __future__ import annotations

import re
from collections.abc import Sequence

from pydantic import BaseModel, Field, field_validator

from kgx.kb.entries import KnowledgeEntry
from kgx.kb.problems import Problem
from kgx.llm.prompts import PromptTemplate
from kgx.llm.types import LLMRequest, SamplingParams

STUDENT_VERSION = "nesycd.student.v1"
STUDENT_MAX_TOKENS = 384
_CALCULATOR = re.compile(r"<<[^>]*>>")  # GSM8K's calculator annotations, noise to a reader
STUDENT_SYSTEM = ("You solve math word problems. Think step by step, then give the final "
                  "answer on its own line as '#### <number>'.")


class TeacherEntry(BaseModel):
    """The teacher's reply: a learning summary, supplementary knowledge, the concepts involved."""

    summary: str = Field(min_length=1)
    knowledge: str = Field(min_length=1)
    concepts: list[str] = Field(default_factory=list, max_length=8)

    @field_validator("summary", "knowledge")
    @classmethod
    def _has_words(cls, value: str) -> str:
        # Small teachers echo the reply template's "..."; failing here earns them a repair turn.
        if not has_words(value):
            raise ValueError("write the actual text, not a placeholder such as '...'")
        return value


def has_words(text: str) -> bool:
    """Whether `text` has a letter or digit, i.e. is more than punctuation or a placeholder."""
    return any(ch.isalnum() for ch in text)


TEACHER = PromptTemplate(
    name="nesycd.teacher.v1",
    system="You are a mathematics teacher who writes study notes. Reply with JSON only.",
    user=("A student solved this problem and got it wrong.\n\nPROBLEM:\n{question}\n\n"
          "REFERENCE SOLUTION:\n{solution}\n\nSTUDENT'S SOLUTION:\n{attempt}\n\n"
          "The student's final answer was {student_answer}; the correct answer is {gold}.\n\n"
          "Write a knowledge-base entry that will help the student on similar problems:\n"
          '- "summary": a learning summary: the mistake and how to avoid it, in one or two '
          "sentences that do not depend on this problem's numbers;\n"
          '- "knowledge": supplementary knowledge (facts, formulas or methods) that problems '
          "like this need;\n"
          '- "concepts": one to five short names of the mathematical concepts involved.\n\n'
          'Reply as {{"summary": "...", "knowledge": "...", "concepts": ["...", "..."]}}.'),
    reply=TeacherEntry,
    max_tokens=512,
)


def student_request(question: str, entries: Sequence[KnowledgeEntry] = (), *,
                    key: str = "") -> LLMRequest:
    """The student's request for one question, with the retrieved entries before it."""
    notes = ""
    if entries:
        lessons = "\n".join(f"{i}. {entry.prompt_text()}" for i, entry in enumerate(entries, 1))
        notes = f"Notes from earlier mistakes that may help:\n{lessons}\n\n"
    return LLMRequest.from_prompt(f"{notes}Question: {question.strip()}\nAnswer:",
                                  system=STUDENT_SYSTEM, key=key,
                                  params=SamplingParams(max_tokens=STUDENT_MAX_TOKENS))


def teacher_request(problem: Problem, attempt: str, student_answer: str | None) -> LLMRequest:
    """The teacher's request about one wrong attempt."""
    return TEACHER.request(problem.id, question=problem.question,
                           solution=_CALCULATOR.sub("", problem.solution),
                           attempt=attempt.strip() or "(no reply)",
                           student_answer=student_answer or "(none)", gold=problem.answer)
