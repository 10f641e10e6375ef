"""Split a document into non-overlapping chunks of whole sentences within a token budget.

SynthKG chunks documents into about 256 tokens cut at sentence boundaries; this module does the
same in pure Python, with a regex sentence splitter and a regex token estimate, so chunking a
corpus costs no model load. Every chunk is an exact slice of its document:
`doc.text[chunk.start:chunk.end] == chunk.text`.

    >>> doc = Document(text="Dr. Smith left. He went to the U.S. in May. It rained.")
    >>> [c.text for c in chunk_document(doc, max_tokens=12)]
    ['Dr. Smith left.', 'He went to the U.S. in May.', 'It rained.']
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Callable, Iterable, Iterator

from kgx.errors import ConfigError
from kgx.models import Chunk, Document

DEFAULT_MAX_TOKENS = 256

# One match is about one token of a GPT-style BPE vocabulary (cl100k, Llama 3): a letter run of
# up to 8 letters (longer, rarer words take two or more), up to 3 digits (these vocabularies
# group digits in threes), or one other non-space character. On the 2WikiMultihopQA passages it
# gives 4.4 characters and 1.35 tokens a word, the usual cl100k ratios for English; it was not
# checked against a real tokenizer, so pass one's counter where exact budgets matter.
_TOKEN = re.compile(r"[^\W\d_]{1,8}|\d{1,3}|[^\s]")

# A sentence ends at . ! ? or …, perhaps followed by closing quotes or brackets, then space.
_SENTENCE_END = re.compile(r"""[.!?…]+["'”’)\]]*(?=\s)""")
# Sentences always break at a blank line, before a Markdown list item or heading, and after a
# heading; the break is the last group that matched.
_HARD_BREAK = re.compile(
    r"(\n[ \t]*\n\s*)"
    r"|(\n)(?=[ \t]*(?:#{1,6}\s|[-*+]\s|\d{1,3}[.)]\s))"
    r"|^[ \t]*#{1,6}[ \t][^\n]*(\n\s*)",
    re.MULTILINE,
)
_WORD = re.compile(r"\S+")
_DOTTED = re.compile(r"(?:\w\.)+\w")
_WORD_BEFORE = re.compile(r"([\w.]+)$")
_ABBREVIATIONS = frozenset({
    "mr", "mrs", "ms", "dr", "prof", "sr", "jr", "st", "mt", "ft", "gen", "col", "lt", "capt",
    "sgt", "rev", "hon", "gov", "sen", "rep", "pres", "fr", "vs", "etc", "e.g", "i.e", "cf",
    "al", "approx", "ca", "inc", "ltd", "co", "corp", "bros", "dept", "univ", "no", "nos",
    "vol", "vols", "fig", "figs", "pp", "ed", "eds", "est", "ph.d", "jan", "feb", "mar", "apr",
    "jun", "jul", "aug", "sep", "sept", "oct", "nov", "dec",
})


def approximate_token_count(text: str) -> int:
    """Estimate the number of LLM subword tokens in `text` (see `_TOKEN` for what it mimics)."""
    return len(_TOKEN.findall(text))


def split_sentences(text: str) -> list[tuple[int, int]]:
    """Character spans of the sentences of `text`, with surrounding white space left out."""
    spans = []
    for block_start, block_end in _blocks(text):
        start = block_start
        for match in _SENTENCE_END.finditer(text, block_start, block_end):
            if _ends_sentence(text, match):
                spans.append((start, match.end()))
                start = match.end()
        spans.append((start, block_end))
    return [trimmed for span in spans if (trimmed := _trim(text, *span))]


def chunk_document(
    doc: Document,
    max_tokens: int = DEFAULT_MAX_TOKENS,
    count_tokens: Callable[[str], int] | None = None,
) -> list[Chunk]:
    """Group whole sentences of `doc` into chunks of at most `max_tokens` tokens.

    `count_tokens` defaults to `approximate_token_count`; pass a tokenizer's counter, such as
    `lambda s: len(tokenizer.encode(s, add_special_tokens=False))`, for exact budgets. A sentence
    longer than the budget is cut between words (inside a word only if one word is too long),
    and each part is a chunk of its own.
    """
    if max_tokens < 1:
        raise ConfigError(f"max_tokens must be at least 1, got {max_tokens}")
    count = count_tokens or approximate_token_count
    # The default count is additive over text split at white space, so sums of sentence counts
    # are exact; a real tokenizer's may not be, so a merge is re-counted on the joined text.
    pieces = _pieces(doc.text, max_tokens, count)
    spans = _pack(doc.text, pieces, max_tokens, count if count_tokens else None)
    return [Chunk(doc_id=doc.id, index=index, text=doc.text[start:end], start=start, end=end,
                  n_tokens=n_tokens) for index, (start, end, n_tokens) in enumerate(spans)]


def _pack(
    text: str,
    pieces: Iterable[tuple[int, int, int, bool]],
    budget: int,
    recount: Callable[[str], int] | None,
) -> Iterator[tuple[int, int, int]]:
    """(start, end, tokens) of runs of whole sentences within `budget`, or of one sentence part.

    The token count is exact: re-counted when `recount` is given, else an additive sum.
    """
    first, last, used, can_grow = -1, -1, 0, False
    for start, end, n, whole in pieces:
        if can_grow and whole and used + n <= budget:
            total = used + n if recount is None else recount(text[first:end])
            if total <= budget:
                last, used = end, total
                continue
        if first >= 0:
            yield first, last, used
        first, last, used, can_grow = start, end, n, whole
    if first >= 0:
        yield first, last, used


def _pieces(
    text: str, budget: int, count: Callable[[str], int]
) -> Iterator[tuple[int, int, int, bool]]:
    """(start, end, tokens, whole) per sentence; a sentence over the budget comes in parts."""
    for start, end in split_sentences(text):
        n = count(text[start:end])
        if n <= budget:
            yield start, end, n, True
        else:
            for part_start, part_end in _split_long(text, start, end, budget, count):
                yield part_start, part_end, count(text[part_start:part_end]), False


def _split_long(
    text: str, start: int, end: int, budget: int, count: Callable[[str], int]
) -> Iterator[tuple[int, int]]:
    """Cut text[start:end] into the longest runs of whole words that fit the budget."""
    word_ends = [m.end() for m in _WORD.finditer(text, start, end)]
    while start < end:
        stops = word_ends[bisect.bisect_right(word_ends, start):]
        cut = _longest_fit(text, start, stops, budget, count)
        if cut is None:  # one word alone is over the budget: cut it between characters
            cut = _longest_fit(text, start, range(start + 1, stops[0]), budget, count)
            cut = cut or start + 1
        yield start, cut
        start = _skip_space(text, cut, end)


def _longest_fit(
    text: str, start: int, stops: list[int] | range, budget: int, count: Callable[[str], int]
) -> int | None:
    """The furthest stop s with count(text[start:s]) <= budget, by binary search; None if none."""
    low, high, best = 0, len(stops) - 1, None
    while low <= high:
        mid = (low + high) // 2
        if count(text[start:stops[mid]]) <= budget:
            best, low = stops[mid], mid + 1
        else:
            high = mid - 1
    return best


def _blocks(text: str) -> Iterator[tuple[int, int]]:
    """Spans of text between hard breaks (blank lines, Markdown headings and list items)."""
    start = 0
    for match in _HARD_BREAK.finditer(text):
        brk_start, brk_end = match.span(match.lastindex or 0)
        yield start, brk_start
        start = brk_end
    yield start, len(text)


def _ends_sentence(text: str, match: re.Match[str]) -> bool:
    """Whether the punctuation in `match` ends a sentence, rather than an abbreviation."""
    following = text[match.end():match.end() + 40].lstrip()
    if not following or following[0].islower() or following[0] in ",;:)":
        return False
    if not match.group().startswith(".") or match.group().startswith(".."):
        return True
    word = _WORD_BEFORE.search(text, max(0, match.start() - 40), match.start())
    if word is None:
        return True
    token = word.group(1).lower()
    if token.isdigit() and (word.start() == 0 or text[word.start() - 1] == "\n"):
        return False  # the number of a numbered list item, "1. First"
    if token in _ABBREVIATIONS or token.rstrip(".") in _ABBREVIATIONS:
        return False
    # An initial ("J." in "J. R. R. Tolkien") or a dotted acronym ("U.S.", "e.g").
    return not ((len(token) == 1 and token.isalpha()) or _DOTTED.fullmatch(token))


def _skip_space(text: str, start: int, end: int) -> int:
    while start < end and text[start].isspace():
        start += 1
    return start


def _trim(text: str, start: int, end: int) -> tuple[int, int] | None:
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    return (start, end) if start < end else None
