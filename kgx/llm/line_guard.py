"""The guard of replies written one item per line (the student's line formats), with the copy
constraint that holds entity lines, triple subjects and objects to spans of the passage.

`LineGuard` follows each row's reply section by section (entities, `---`, triples), moves a reply
on at a repeated line or a full section, and keeps each line in its section's shape; the JSON
replies' guard is `kgx.llm.repeat_guard.RepeatGuard`. `GUARD_KEY` there versions both.

    guard = LineGuard(token_texts, separator_ids=[...], eos_ids=[...])
    processor = guard.for_rows(copy_from=[passage, ...])   # a transformers logits processor
"""

from __future__ import annotations

import copy
import re
from collections.abc import Sequence


class LineGuard:
    """The repeat guard for replies written one item per line, in sections divided by a
    separator line (the student's v2 format: entities, `---`, triples).

    When a row finishes a line that repeats an earlier line of its section, or a section
    reaches `max_lines`, the next tokens are forced: the separator (the reply moves on to the
    next section) or, in the last section, the end of the reply. A repeated line is thus kept
    once more at most; readers drop duplicates.

        guard = LineGuard(token_texts, separator_ids=[...], eos_ids=[...], sections=2)
        processor = guard.for_rows()           # a transformers logits processor
        processor = guard.for_rows(copy_from=[passage, ...])   # with the copy constraint

    With `copy_from` (one text per row) the guard also holds the first section to spans of that
    text, in the order they appear there (the v2 format lists entities by first appearance): in
    an entity line `N name`, a token is allowed only if the name it leads to (ignoring case)
    occurs in the row's text no earlier than the previous entity's first appearance, a finished
    name must first appear there and must not be listed yet, and a line may not leave the
    `N name` shape. So the model can neither invent a name, nor go back, nor list one twice;
    it can always end the section. Of the row's best tokens the first that passes is the one
    allowed, which is exact for greedy decoding (the student's).

    In the triple section (`triple_lines`) every line is held to `subject|predicate|object`:
    three non-empty parts of single-spaced words, no blank lines, and the reply ends only after
    a whole triple; with `copy_from` the subject is also a span of the text (99.2% of the
    teacher's subjects are), and an object the model begins as a span stays one where its
    best tokens allow (`object_spans`; 90.4% of the teacher's objects are spans).
    """

    def __init__(self, token_texts: Sequence[str], *, separator: str = "---",
                 separator_ids: Sequence[int], eos_ids: Sequence[int], sections: int = 2,
                 max_lines: int = 32, numbered_ends: bool = False,
                 triple_lines: bool = True, list_bias: float | None = None,
                 object_spans: str | None = None) -> None:
        self.token_texts = token_texts
        self.object_spans = OBJECT_SPANS if object_spans is None else object_spans
        """With `copy_from`, how a triple's object is held to a span of the text at word
        boundaries, softly (the best of the top tokens that keeps one; the model's own
        choice when none does): "off", "hold" (always) or "started" (only once the model's
        own object has started as a span)."""
        if self.object_spans not in OBJECT_SPAN_MODES:
            raise ValueError(f"object_spans must be one of {OBJECT_SPAN_MODES}, "
                             f"not {self.object_spans!r}")
        self.list_bias = LIST_BIAS if list_bias is None else list_bias
        """At a line start, the next line is taken over the end of its section (the separator
        after the entities, with the copy constraint; the end of the reply after the triples,
        with `triple_lines`) when its best token's logit is at most this much lower (0: the
        model's own choice)."""
        self.triple_lines = triple_lines
        """Hold the second section to `subject|predicate|object` lines (and, with `copy_from`,
        their subjects to spans of the row's text); the reply may end only after a triple."""
        self.numbered_ends = numbered_ends
        """Triple ends are entity numbers (format v2): one past the list ends the reply."""
        self.separator = separator
        self.separator_ids = list(separator_ids)
        """The tokens that write the separator line and its newline."""
        self.eos_ids = list(eos_ids)
        self.sections = sections
        self.max_lines = max_lines
        self.newline_id = _token_id(token_texts, "\n")
        self.bar_id = _token_id(token_texts, "|")
        self.separator_rest = {done: _token_id(token_texts, separator[len(done):])
                               for done in (separator[:i] for i in range(1, len(separator)))}
        """The token that finishes a separator line begun as the key (`-` -> `--`)."""

    def for_rows(self, copy_from: Sequence[str] | None = None,
                 budget: int | None = None) -> LineGuardProcessor:
        return LineGuardProcessor(self, copy_from, budget)


class LineGuardNumpy:
    """The line guard on llama.cpp's one-row numpy arrays (no torch needed)."""

    def __init__(self, guard: LineGuard, copy_from: str | None = None,
                 budget: int | None = None, keep: int = 1) -> None:
        self._processor = guard.for_rows(None if copy_from is None else [copy_from], budget)
        self._processor.keep = keep

    def __call__(self, input_ids, scores):
        import numpy as np

        rows = np.asarray(input_ids).reshape(1, -1)
        return self._processor(rows, scores.reshape(1, -1)).reshape(-1)

    def fork(self) -> LineGuardNumpy:
        """A copy with a state of its own, for another beam of the same reply."""
        twin = copy.copy(self)
        twin._processor = copy.copy(self._processor)
        twin._processor.states = copy.deepcopy(self._processor.states)
        return twin


class _LineState:
    __slots__ = ("at", "entities", "forced", "line", "section", "seen", "written")

    def __init__(self) -> None:
        self.written = 0
        """Reply tokens so far."""
        self.line: list[str] = []
        self.seen: set[str] = set()
        self.section = 0
        self.forced: list[int] = []
        self.at = 0
        """Where the last listed entity first appears in the row's text (the copy constraint)."""
        self.entities = 0
        """Lines written in the entity section."""


class LineGuardProcessor:
    """A logits processor for one generation call (one state per row)."""

    def __init__(self, guard: LineGuard, copy_from: Sequence[str] | None = None,
                 budget: int | None = None) -> None:
        self.guard = guard
        self.budget = budget
        """The reply's token cap: near it, a row between lines moves on to the triples, then
        ends, so the reply is complete rather than cut off (see END_RESERVE)."""
        self.sources = None if copy_from is None else [" ".join(t.split()).casefold()
                                                       for t in copy_from]
        self.states: list[_LineState] = []
        self.fed = 0
        self.forced = 0
        """How many times the guard moved a reply on (a repeat, or a full section)."""
        self.held = 0
        """How many times the copy constraint overruled a row's best token."""
        self.keep = 1
        """How many allowed tokens a held row keeps: 1 for greedy decoding (the rest of the
        row is left alone where the best token passes), more for a beam search."""

    def __call__(self, input_ids, scores):
        if not self.states:  # the first step: everything so far is the prompt
            self.states = [_LineState() for _ in range(input_ids.shape[0])]
            self.fed = input_ids.shape[1]
        new = input_ids[:, self.fed:].tolist()
        self.fed = input_ids.shape[1]
        for row, (state, tokens) in enumerate(zip(self.states, new, strict=True)):
            source = self.sources[row] if self.sources is not None else None
            for token in tokens:
                if state.forced and state.forced[0] == token:
                    state.forced.pop(0)
                self._feed(state, self.guard.token_texts[token]
                           if token < len(self.guard.token_texts) else "", source)
            state.written += len(tokens)
            self._end_near_budget(state)
            if state.forced:  # works on torch tensors and numpy arrays alike
                scores[row] = -float("inf")
                scores[row, state.forced[0]] = 0.0
            elif source is not None and state.section == 0:
                self._hold_to_spans(state, source, scores, row)
            elif state.section == 1 and self.guard.triple_lines:
                self._hold_to_triples(state, None if self.guard.numbered_ends else source,
                                      scores, row)
        return scores

    def _end_near_budget(self, state: _LineState) -> None:
        """Between lines and close to the cap: the separator (entities), or the end (triples)."""
        if self.budget is None or state.forced or state.line:
            return
        left, reserve = self.budget - state.written, min(END_RESERVE, self.budget // 4)
        if state.section == 0 and left < 2 * reserve:
            state.forced = list(self.guard.separator_ids)
        elif state.section >= 1 and left < reserve:
            state.forced = list(self.guard.eos_ids[:1])
        else:
            return
        self.forced += 1

    def _hold(self, scores, row: int, allowed) -> bool:
        """Allow only the best of the row's top tokens that `allowed(token, text)` passes;
        False, and the row left alone, when none of them does. With `keep` above 1, the
        best `keep` that pass keep their scores (a beam search ranks them all)."""
        texts = self.guard.token_texts
        if self.keep > 1:
            kept: list[int] = []
            for token in _best_tokens(scores[row], COPY_CANDIDATES):
                if allowed(token, texts[token] if token < len(texts) else ""):
                    kept.append(token)
                    if len(kept) == self.keep:
                        break
            if kept:
                values = scores[row, kept].copy()
                scores[row] = -float("inf")
                scores[row, kept] = values
            return bool(kept)
        best = int(scores[row].argmax())  # nearly always fine: no need to rank the rest
        if allowed(best, texts[best] if best < len(texts) else ""):
            return True
        for token in _best_tokens(scores[row], COPY_CANDIDATES):
            if token != best and allowed(token, texts[token] if token < len(texts) else ""):
                scores[row] = -float("inf")
                scores[row, token] = 0.0
                self.held += 1
                return True
        return False

    def _hold_to_spans(self, state: _LineState, source: str, scores, row: int) -> None:
        """Allow only the best token that keeps an entity line a span of `source`. The reply
        may not end in the entity section: an end-of-reply token writes no text, so it would
        pass as a span and end the reply before its triples. Where none of the best tokens
        passes, the row keeps its own choice, but for those ends."""
        line, ends = "".join(state.line), self.guard.eos_ids

        def allowed(token: int, text: str) -> bool:
            return (bool(text) and token not in ends
                    and _copyable(line + text, source, at=state.at, listed=state.seen))

        if not line and self.guard.list_bias > 0:
            self._continue_list(scores, row, self.guard.separator_ids[0],
                                lambda token, text: text.strip().isdigit() and allowed(token, text))
        if self._hold(scores, row, allowed):
            return
        # None of the best tokens fits: end the list at a line start, finish a separator begun
        # (`-` -> `---`), or end a named line (the reader's copy filter drops a name the
        # passage lacks); else the row's choice.
        number, name = _ENTITY_LINE.fullmatch(line.lstrip(" ")).groups()
        rest = self.guard.separator_rest.get(line)
        if not line.strip():
            state.forced = list(self.guard.separator_ids)
        elif rest is not None and self.guard.newline_id is not None:
            state.forced = [rest, self.guard.newline_id]
        elif number and name.strip() and self.guard.newline_id is not None:
            state.forced = [self.guard.newline_id]
        else:
            scores[row, [token for token in ends if token < scores.shape[-1]]] = -float("inf")
            return
        scores[row] = -float("inf")
        scores[row, state.forced[0]] = 0.0
        self.forced += 1

    def _continue_list(self, scores, row: int, stop: int, starts) -> None:
        """At a line start, when the row's best token is `stop` (the separator after the
        entities, the end after the triples) and a token that `starts(token, text)` a next
        line scores within `list_bias` of it, take `stop` away: the list goes on, still held
        to its section's shape."""
        texts = self.guard.token_texts
        best = int(scores[row].argmax())
        if best != stop:
            return
        for token in _best_tokens(scores[row], LIST_CANDIDATES):
            text = texts[token] if token < len(texts) else ""
            if token != stop and text.strip() and starts(token, text):
                if float(scores[row, best] - scores[row, token]) <= self.guard.list_bias:
                    scores[row, best] = -float("inf")
                    self.held += 1
                return

    def _hold_to_triples(self, state: _LineState, source: str | None, scores, row: int) -> None:
        """Allow only the best token that keeps the line a triple `subject|predicate|object`
        (three non-empty parts, two bars, no blank lines) whose subject, with `source`, is a
        span of it; the reply may end only between triples."""
        guard, line, ends = self.guard, "".join(state.line), self.guard.eos_ids
        subject = "|" not in line
        objects = source is not None and _hold_object(line, source, guard.object_spans)

        def allowed(token: int, text: str, objects: bool = objects) -> bool:
            if token in ends:
                return not line.strip() or _triple_complete(line)
            return bool(text) and _triple_prefix(line + text, source, objects=objects,
                                                 subject=subject)

        if not line.strip() and guard.list_bias > 0 and ends:
            self._continue_list(scores, row, ends[0], allowed)
        if self._hold(scores, row, allowed):
            return
        if objects and self._hold(scores, row, lambda token, text: allowed(token, text, False)):
            return  # the object constraint is soft: no top token keeps a span
        parts = line.split("|")  # none of the best tokens fits: close the part, if it has text
        closer = (self.guard.newline_id if _triple_complete(line) else
                  self.guard.bar_id if len(parts) < 3 and parts[-1].strip() else None)
        if closer is not None:
            scores[row] = -float("inf")
            scores[row, closer] = 0.0
            self.held += 1

    def _feed(self, state: _LineState, text: str, source: str | None) -> None:
        guard = self.guard
        for char in text:
            if char != "\n":
                state.line.append(char)
                continue
            line = "".join(state.line).strip()
            state.line = []
            if line == guard.separator:
                state.section, state.seen = state.section + 1, set()
                continue
            key = _line_key(line) if state.section == 0 else line
            if state.section == 0 and line:
                state.entities += 1
                if source is not None and _word_find(source, key) >= state.at:
                    state.at = _word_find(source, key)
            if line and not state.forced and (key in state.seen
                                              or len(state.seen) + 1 >= guard.max_lines
                                              or _unlisted_end(line, state, guard)):
                last = state.section >= guard.sections - 1
                state.forced = list(guard.eos_ids[:1] if last else guard.separator_ids)
                self.forced += 1
            state.seen.add(key)


def _unlisted_end(line: str, state: _LineState, guard: LineGuard) -> bool:
    """A triple line that points at an entity number past the list (`1|is|9` after 7
    entities): the reply has started counting instead of reading, so it is ended there."""
    if state.section != 1 or not guard.numbered_ends:
        return False
    parts = [part.strip() for part in line.split("|")]
    return any(part.isdigit() and int(part) > state.entities
               for part in (parts[0], parts[-1]) if len(parts) == 3)


MAX_NAME_WORDS = 8
"""The longest entity name the copy constraint lets a line grow to (the teacher's training
entities have 2.0 words on average; 99.9% have at most 8)."""
END_RESERVE = 64
"""Reply tokens kept for the line under way when the guard ends a reply before its cap (a
triple line is at most 34 words), or a quarter of a smaller cap; twice that for the triples
when the entity list is under way."""
TRIPLE_PART_WORDS = (MAX_NAME_WORDS, 10, 16)
"""The longest subject, predicate and object a triple line may grow to (of the teacher's
training triples, 99.9% have at most 10, 9 and 14 words): a part that runs on is cut there."""
LIST_BIAS = 0.0
"""`LineGuard.list_bias` by default: how far (in logits) a next line may trail the end of its
section and still be taken (the student writes fewer entities and triples than its teacher)."""
LIST_CANDIDATES = 8
"""How many of a row's best tokens `list_bias` looks through for the start of a next line."""
COPY_CANDIDATES = 64
"""How many of a row's best tokens the copy constraint tries before it leaves the row alone."""
OBJECT_SPAN_MODES = ("off", "hold", "started")
OBJECT_SPANS = "started"
"""`LineGuard.object_spans` by default (validation, 156 passages, with the reader's
`unique_relations`: fuzzy triple F1 0.227 -> 0.237, embedding 0.391 -> 0.399, entity F1
0.599 -> 0.621; "hold" gave 0.234, 0.394 and 0.627; see the model card)."""
_ENTITY_LINE = re.compile(r"(\d*)(.*)", re.S)
_LOOSE_SPACE = re.compile(r"\s\s|[^\S ]")
"""Two spaces in a row, or a tab: the name would match the passage only with its whitespace
collapsed, and readers take names as written."""


def _copyable(line: str, source: str, *, at: int = 0, listed: set[str] = frozenset()) -> bool:
    """Whether `line` (an entity line so far, maybe ended by a newline) keeps the `N name`
    shape with a name that occurs in `source` (casefolded, whitespace collapsed) at or after
    `at`; a finished name must first appear there and not be in `listed`."""
    head, newline, _ = line.lstrip(" ").partition("\n")
    number, rest = _ENTITY_LINE.fullmatch(head).groups()
    if not number:  # not an entity line: the separator (exactly, `- ` is no line), or a blank
        return "---".startswith(head) and (not newline or head in ("", "---"))
    if len(number) > 2:  # a section holds at most 32 lines: `1000000…` is counting
        return False
    if not rest:
        return not newline  # `3` alone is no entity line
    if not rest[0].isspace():  # `1|Ada`, `1.Ada`: not the format
        return False
    if _LOOSE_SPACE.search(rest):  # `1 Ada  Lovelace`: no span of the passage, as written
        return False
    name = " ".join(rest.split()).casefold()
    if len(name.split()) > MAX_NAME_WORDS:  # a name run on into the sentence around it
        return False
    if newline:  # its first appearance, as whole words (`TU` is in "iTunes", not a name)
        return bool(name) and name not in listed and _word_find(source, name) >= at
    return _word_find(source, name + " " if rest[-1].isspace() and name else name, at,
                      finished=False) >= 0


def _token_id(token_texts: Sequence[str], text: str) -> int | None:
    return next((i for i, token in enumerate(token_texts) if token == text), None)


def _triple_complete(line: str) -> bool:
    parts = line.split("|")
    return len(parts) == 3 and all(part.strip() for part in parts)


def _triple_prefix(text: str, source: str | None, *, words: bool = False,
                   objects: bool = False, subject: bool = True) -> bool:
    """Whether `text` (a triple line so far, maybe ended by a newline and the start of the
    next) can still become `subject|predicate|object`, with a subject that occurs in `source`
    (casefolded, whitespace collapsed) when given: at word boundaries with `words`; with
    `objects`, the object too (always at word boundaries). Without `subject` the line's
    subject is taken as written (it was checked while it was written; one the guard had to
    close off a span must not make every later token fail)."""
    head, newline, tail = text.partition("\n")
    parts = head.split("|")
    if len(parts) > 3 or any(not part.strip() for part in parts[:-1]) or any(
            len(part.split()) > cap for part, cap in zip(parts, TRIPLE_PART_WORDS, strict=False)):
        return False
    if any(_LOOSE_SPACE.search(part) for part in parts):  # `with the \t \t \t…` to the cap
        return False
    if source is not None and subject and not _in_source(
            parts[0].lstrip(" "), source, finished=len(parts) > 1 or bool(newline), words=words):
        return False
    if source is not None and objects and len(parts) == 3 and not _in_source(
            parts[2].lstrip(" "), source, finished=bool(newline), words=True):
        return False
    if not newline:
        return True
    return _triple_complete(head) and (not tail or (
        "\n" not in tail and _triple_prefix(tail, source, words=words, objects=objects)))


def _in_source(part: str, source: str, *, finished: bool, words: bool) -> bool:
    """Whether a triple part so far (`part`, its leading space stripped) occurs in `source`;
    with `words`, starting at a word boundary and, when `finished`, ending at one."""
    name = " ".join(part.split()).casefold()
    probe = name + " " if part[-1:].isspace() and name and not finished else name
    if not words:
        return source.find(probe) >= 0
    return _word_find(source, probe, finished=finished) >= 0


def _word_find(source: str, probe: str, at: int = 0, *, finished: bool = True) -> int:
    """Where `probe` first occurs in `source` from `at` on, starting at a word boundary and,
    when `finished`, ending at one; -1 if nowhere."""
    start, first, last = source.find(probe, at), probe[:1].isalnum(), probe[-1:].isalnum()
    while start >= 0:  # word characters on both sides of an edge: no boundary there
        end = start + len(probe)
        if not (first and start and source[start - 1].isalnum()) and not (
                finished and last and end < len(source) and source[end].isalnum()):
            return start
        start = source.find(probe, start + 1)
    return -1


def _hold_object(line: str, source: str, mode: str) -> bool:
    """Whether the object span check applies to the next token of `line`: never when the
    object written so far is off the text already (the soft check let the model go there);
    in mode "started" only once the object has begun, as a span."""
    parts = line.split("|")
    if mode == "off" or len(parts) > 3:
        return False
    if len(parts) < 3:
        return mode == "hold"
    written = parts[2].lstrip(" ")
    return (mode == "hold" or bool(written.strip())) and _in_source(
        written, source, finished=False, words=True)


def _best_tokens(row, k: int) -> list[int]:
    """The ids of the `k` highest scores of one row, best first (torch or numpy)."""
    if hasattr(row, "topk"):
        return row.topk(min(k, row.shape[-1])).indices.tolist()
    import numpy as np

    top = np.argpartition(-row, min(k, row.shape[-1] - 1))[:k]
    return top[np.argsort(-row[top])].tolist()


def _line_key(line: str) -> str:
    """An entity line without its number: `3 Paris` repeats `1 Paris`."""
    number, _, rest = line.partition(" ")
    return rest.casefold() if number.isdigit() else line.casefold()
