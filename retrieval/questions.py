"""What a question asks for, read from its wording alone: the answer's kind and type.

    shape = question_shape("Who lived longer, Friedrich Paschen or Ernst Bessey?")
    shape.kind, shape.options, shape.comparator     # "choice", (..., ...), "longer"
    question_shape("When was Ada Lovelace born?").expected   # {"DATE"}

Kinds: "choice" (one of two named options), "yes_no" (a question opened by an auxiliary verb)
and "entity" (anything else: a name, place, date or number, typed by `expected`, the spaCy
entity labels an answer of that wording has; empty when the wording says nothing).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from .linking import STOPWORDS, matching_key

PERSON = frozenset({"PERSON"})
DATE = frozenset({"DATE"})
PLACE = frozenset({"GPE", "LOC", "FAC"})
NUMBER = frozenset({"CARDINAL", "QUANTITY", "MONEY", "PERCENT"})
ORGANISATION = frozenset({"ORG"})
NATIONALITY = frozenset({"NORP", "GPE"})
WORK = frozenset({"WORK_OF_ART", "CONCEPT", "EVENT", "PRODUCT"})
YEAR = re.compile(r"\b(1[0-9]{3}|20[0-9]{2})\b")
"""A year in a passage's text (1000-2099)."""


def _words(text: str) -> list[str]:
    return text.split()


_YES_NO_OPENERS = frozenset(
    _words("is are was were do does did has have had can could will would should"))
# The noun after "which"/"what" says the type: "which country" is a place.
_NOUN_TYPES: dict[str, frozenset[str]] = {
    **dict.fromkeys(_words("country city state county town village province region place "
                    "capital continent island river mountain location area nation"),
                    PLACE),
    **dict.fromkeys(_words("year date decade century day month birthday"), DATE),
    **dict.fromkeys(_words("company band team organization organisation university school college "
                    "party club network label group newspaper magazine airline agency "
                    "institution"), ORGANISATION),
    **dict.fromkeys(_words("nationality"), NATIONALITY),
    **dict.fromkeys(_words("film movie album song book novel show series game opera play poem "
                    "work"), WORK),
    **dict.fromkeys(_words("person man woman actor actress singer director writer author player "
                    "musician politician composer producer artist wife husband father mother "
                    "son daughter brother sister spouse"), PERSON),
}
# Comparison words and whether the smaller (earlier) value wins.
_COMPARATORS: tuple[tuple[str, str], ...] = (
    (r"\blived longer\b|\blonger life\b|\bdied (?:at an )?older\b", "longer"),
    (r"\bdied (?:first|earlier|sooner)\b", "died_first"),
    (r"\bdied (?:later|last)\b", "died_later"),
    (r"\bolder\b|\boldest\b|\bborn (?:first|earlier)\b|\bearlier\b|\bfirst\b|\bbefore\b"
     r"|\bprior\b|\bearliest\b", "earlier"),
    (r"\byounger\b|\byoungest\b|\bborn (?:later|last)\b|\blater\b|\blast\b|\bmore recent"
     r"|\bmost recent|\bnewer\b|\bafter\b|\blatest\b", "later"),
)


@dataclass(frozen=True)
class QuestionShape:
    """The answer a question wants: its kind, expected entity labels, options and comparison."""

    kind: str
    """"entity", "choice" (answer one of `options`) or "yes_no"."""
    expected: frozenset[str]
    """spaCy entity labels the answer may have; empty when the wording does not say."""
    wh: str
    """The question word that set `expected` ("who", "when", "which country", ...), or ""."""
    options: tuple[str, ...] = ()
    comparator: str | None = None
    """"earlier", "later", "longer", "died_first", "died_later" or None."""


def question_shape(question: str) -> QuestionShape:
    """The shape of `question`; see the module docstring."""
    text = " ".join(question.strip().split())
    lowered = text.casefold()
    comparator = next((name for pattern, name in _COMPARATORS if re.search(pattern, lowered)),
                      None)
    options = choice_options(text)
    first = lowered.split(" ", 1)[0] if lowered else ""
    if options:
        return QuestionShape("choice", frozenset(), "which of two", options, comparator)
    if first in _YES_NO_OPENERS:
        return QuestionShape("yes_no", frozenset(), first, (), comparator)
    wh, expected = _expected(lowered)
    return QuestionShape("entity", expected, wh, (), comparator)


def choice_options(question: str) -> tuple[str, ...]:
    """The two options of "..., A or B?" (also "between A and B", "A or B?"), else ()."""
    text = question.strip().rstrip("?").strip()
    match = re.search(r"(?:,|:|\bbetween)\s+([^,]+?)\s+(?:or|and)\s+([^,]+)$", text)
    if match is None:
        match = re.search(r"^(?:is|was|are|were|did|does|do|has|have)\s+(.+?)\s+or\s+(.+?)"
                          r"\s+(?:the\s+)?(?:older|younger|born|released|founded|first|"
                          r"larger|bigger|taller|more|less|located|formed|established)\b.*$",
                          text, flags=re.IGNORECASE)
    if match is None or (" or " not in text and "between" not in text.casefold()):
        return ()
    options = tuple(_strip_option(o) for o in match.groups())
    return options if all(options) and options[0].casefold() != options[1].casefold() else ()


def _strip_option(option: str) -> str:
    option = re.sub(r"^(?:the (?:film|movie|song|album|band|book) |film |movie )", "",
                    option.strip(), flags=re.IGNORECASE)
    return option.strip(" \"'“”")


def _expected(lowered: str) -> tuple[str, frozenset[str]]:
    words = re.findall(r"[a-z]+", lowered)
    if not words:
        return "", frozenset()
    for i, word in enumerate(words):
        if word in ("how",) and i + 1 < len(words):
            nxt = words[i + 1]
            if nxt in ("many", "much", "long", "old", "far", "tall", "large", "big", "high"):
                return f"how {nxt}", NUMBER | (DATE if nxt in ("long", "old") else frozenset())
        if word in ("who", "whom", "whose"):
            return word, PERSON | ORGANISATION
        if word == "when":
            return "when", DATE
        if word == "where":
            return "where", PLACE | ORGANISATION
        if word in ("which", "what"):
            noun = _head_noun(words[i + 1:])
            if noun in _NOUN_TYPES:
                return f"{word} {noun}", _NOUN_TYPES[noun]
            if noun:
                return f"{word} {noun}", frozenset()
            return word, frozenset()
    return "", frozenset()


def _head_noun(words: list[str]) -> str:
    """The first word after which/what that can name a type ("which 1990s film" -> film)."""
    if words[:1] and words[0] in _YES_NO_OPENERS:  # "what is the place of birth of X"
        words = [w for w in words[1:] if w not in ("the", "a", "an")]
        if words[:2] in (["place", "of"], ["date", "of"]) and len(words) > 2:
            return words[0]
    for word in words[:4]:
        if word in _NOUN_TYPES:
            return word
        if word in _YES_NO_OPENERS:
            break
    return words[0] if words and words[0] not in _YES_NO_OPENERS else ""


# The linker's stop words less those that say what a question asks ("born", "died").
_ANSWER_STOPWORDS = STOPWORDS - {"born", "died", "film", "movie", "name", "called"}


def content_words(text: str) -> set[str]:
    """The matching-key words of `text` that are not stop words, as `stem`s (for overlap
    scores): "married" meets "marry", "Americans" meets "American"."""
    return {stem(w) for w in matching_key(text).split()
            if w not in _ANSWER_STOPWORDS and len(w) > 1}


def stem(word: str) -> str:
    """A crude English stem: common inflections off, then the first six letters."""
    for suffix, replacement in (("ied", "y"), ("ies", "y"), ("ing", ""), ("ed", ""),
                                ("es", ""), ("s", "")):
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            word = word[:-len(suffix)] + replacement
            break
    return word[:6]
