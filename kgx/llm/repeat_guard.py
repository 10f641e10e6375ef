"""End a JSON reply's lists at their first repeated item, while the reply is being generated.

Small models decoding greedily under a JSON grammar fall into loops: the same entity, the same
triple, again and again until the token cap, and the reply is cut off as invalid JSON. The grammar
cannot forbid a repeat, but the model shows it at one place: the separator after an item it has
already written. `RepeatGuard` follows each row's reply and, when the model's best next token
would write the `,` after an item (finished, or finished by that very token) that repeats an
earlier item of the same top-level list, it allows only the tokens that close the list there
instead, so the reply moves on. Banning the comma alone is not enough: the model then stretches
the repeated string ("Paris", "Parisia", "Parisiai", ...). Where no token closes the list right
there (`"},` exists, `"}]` does not), the guard allows just the closers before the comma, and
guards the comma that follows.

A repeated item still appears once, at the list's end; readers drop duplicates anyway. Only the
lists that are values of the top-level object are guarded (`{"entities": [...], "triples":
[[...], ...]}`); a triple's own three parts may repeat.

    guard = RepeatGuard(token_texts)        # token id -> its text
    logits_processors.append(guard.for_rows(rows))
"""

from __future__ import annotations

import re
from collections.abc import Sequence

GUARD_KEY = "+guard.6"
"""Part of a guarded backend's model name, and so of its cache keys: a change to what the
guards do is a new version (2: the line guard ends a reply at a triple end past the list;
3: the copy constraint never lets a reply end in its entity section; 4: a triple's object
begun as a span of the passage is held to one, `object_spans`; 5: a separator line is
exactly `---`; 6: batched replies carry their tokens' log-probs, which the student's reader
makes triple confidences of)."""

# What a token writes before its comma: closing quotes and brackets, possibly spaces.
_BEFORE_COMMA = re.compile(r'^([\s"\]}]*),')


class ReplyTracker:
    """Follows one JSON reply character by character: nesting, strings, and the items of the
    top-level object's lists seen so far."""

    __slots__ = ("escape", "in_string", "item", "seen", "stack")

    def __init__(self) -> None:
        self.stack: list[str] = []
        self.in_string = False
        self.escape = False
        self.item: list[str] = []
        self.seen: set[str] = set()

    def copy(self) -> ReplyTracker:
        other = ReplyTracker()
        other.stack, other.item = list(self.stack), list(self.item)
        other.in_string, other.escape, other.seen = self.in_string, self.escape, self.seen
        return other

    def feed(self, text: str) -> None:
        for char in text:
            self._step(char)

    def _in_guarded_list(self) -> bool:
        return self.stack[:2] == ["{", "["]

    def _step(self, char: str) -> None:
        at_item_level = len(self.stack) == 2 and self._in_guarded_list()
        if self.in_string:
            if self.escape:
                self.escape = False
            elif char == "\\":
                self.escape = True
            elif char == '"':
                self.in_string = False
        elif char == '"':
            self.in_string = True
        elif char in "{[":
            self.stack.append(char)
            if len(self.stack) <= 2:  # the object, or the opening of one of its lists
                return
        elif char in "}]":
            if at_item_level:  # the guarded list closes: its last item, then a fresh list
                self.seen = set()
                self.item = []
            if self.stack:
                self.stack.pop()
            if at_item_level:
                return
        elif char == "," and at_item_level:
            self.seen = self.seen | {self.current_item()}
            self.item = []
            return
        if len(self.stack) >= 2 and self._in_guarded_list():
            self.item.append(char)

    def current_item(self) -> str:
        return "".join(self.item).strip()

    def repeat_before_comma(self) -> bool:
        """Whether a `,` written now would follow an item the list already holds."""
        at_item_level = len(self.stack) == 2 and self._in_guarded_list() and not self.in_string
        return at_item_level and self.current_item() in self.seen


class RepeatGuard:
    """Precomputed per tokenizer: which tokens write a comma (and what they close before it),
    and which tokens close a list after the same closers."""

    def __init__(self, token_texts: Sequence[str]) -> None:
        self.prefix_of: dict[int, str] = {}
        """Token id -> what it writes before its comma, for every token that writes one."""
        for token_id, text in enumerate(token_texts):
            match = _BEFORE_COMMA.match(text)
            if match:
                self.prefix_of[token_id] = match.group(1)
        prefixes = set(self.prefix_of.values())
        self.closing_tokens: dict[str, list[int]] = {
            prefix: [i for i, text in enumerate(token_texts) if text.startswith(prefix + "]")]
            for prefix in prefixes}
        """Prefix -> the tokens that write it and then close the list; where no token does
        (SmolLM2 has `"},` but no `"}]`), the tokens that write part of it without the comma,
        after which the comma, now a token of its own, is guarded again."""
        for prefix, closers in self.closing_tokens.items():
            if prefix and not closers:
                parts = {prefix[:end] for end in range(1, len(prefix) + 1)}
                closers += [i for i, text in enumerate(token_texts) if text in parts]

    def for_rows(self, token_texts: Sequence[str]) -> RepeatGuardProcessor:
        return RepeatGuardProcessor(self, token_texts)


class RepeatGuardProcessor:
    """A transformers logits processor for one `generate` call (one tracker per row).

    Run it after the grammar's mask: when a row's best allowed token would write the comma after
    a repeated item, only the tokens that close the list instead stay allowed (if the grammar
    allows any of them)."""

    def __init__(self, guard: RepeatGuard, token_texts: Sequence[str]) -> None:
        self.guard = guard
        self.token_texts = token_texts
        self.trackers: list[ReplyTracker] = []
        self.fed = 0
        self.closed = 0
        """How many lists the guard closed at a repeated item."""

    def __call__(self, input_ids, scores):
        import torch

        if not self.trackers:  # the first step: everything so far is the prompt
            self.trackers = [ReplyTracker() for _ in range(input_ids.shape[0])]
            self.fed = input_ids.shape[1]
        new = input_ids[:, self.fed:].tolist()
        self.fed = input_ids.shape[1]
        vocab = scores.shape[1]
        for row, (tracker, tokens) in enumerate(zip(self.trackers, new, strict=True)):
            for token in tokens:
                if token < len(self.token_texts):
                    tracker.feed(self.token_texts[token])
            prefix = self.guard.prefix_of.get(int(scores[row].argmax()))
            if prefix is None or not _repeat_after(tracker, prefix):
                continue
            closers = [t for t in self.guard.closing_tokens[prefix] if t < vocab]
            allowed = scores[row, closers]
            if not closers or torch.isinf(allowed).all():  # the grammar wants more items
                continue
            scores[row] = -float("inf")
            scores[row, closers] = allowed
            self.closed += 1
        return scores


def _repeat_after(tracker: ReplyTracker, prefix: str) -> bool:
    if not prefix:
        return tracker.repeat_before_comma()
    ahead = tracker.copy()
    ahead.feed(prefix)
    return ahead.repeat_before_comma()

