"""Greedy replies to many prompts at once on one llama.cpp context (continuous batching).

A 135M model decoding one sequence on a CPU spends each step reading all of its weights for a
single token; decoding eight sequences in the same step reads them once for eight tokens. The
`BatchDecoder` keeps up to `slots` sequences in one context (each with its own KV cells, one
`seq_id` a slot), gives every running sequence one token per `llama_decode` call, and starts the
next prompt in a slot as soon as its reply ends, its prompt prefilled in the same calls.

Prompts that start alike (the student's chat template and system prompt: 45 of its about 185
prompt tokens) share that start: the decoder prefills it once, keeps its KV cells, and copies
them into each slot it starts, which then prefills only the rest of its prompt.

A step feeds its sequences in id order, and a reply moves down into a free lower slot that no
prompt could take (its KV cells copied), so the ids a step feeds stay consecutive: llama.cpp
reads all of the weights once per run of consecutive ids (`_step`, `_compact`).

Each reply runs its own logits processor (kgx's line guard with its copy constraint) on its own
row of logits and takes the best token, so a reply is what greedy decoding of that prompt alone
gives, up to the float rounding of batched matrix products.

A prompt may ask for beam search instead (`BatchPrompt.beams`): it then holds that many slots,
one beam each, that step together; the best `2 × beams` continuations of all its beams (their
log-probs after the processor, summed) make the next beams, a beam that takes another's place
gets a copy of its KV cells and processor state, and the reply is the finished beam with the
best log-prob per token once `beams` of them have finished (transformers' `num_beams` with
`early_stopping=True` and a length penalty of 1).

    decoder = BatchDecoder(llama, slots=8)          # a loaded llama_cpp.Llama (its LoRA too)
    replies = decoder.generate([BatchPrompt(tokens, max_tokens=512, processor=guard), ...])
"""

from __future__ import annotations

import ctypes
import heapq
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from kgx.errors import LLMError
from kgx.llm.types import TokenLogprobs

Processor = Callable[[Any, Any], Any]
"""A logits processor as llama-cpp-python calls them: (token ids so far, scores) -> scores."""


MIN_SHARED_PREFIX = 16
"""The shortest common prompt start worth prefilling once and copying into each slot."""


def shared_prefix(prompts: Sequence[BatchPrompt]) -> list[int]:
    """The tokens every prompt starts with, short of each prompt's last token (a slot must
    prefill at least one token for its first logits); empty for fewer than two prompts."""
    if len(prompts) < 2:
        return []
    first = prompts[0].tokens
    n = min(len(p.tokens) for p in prompts) - 1
    for prompt in prompts[1:]:
        n = next((i for i, (a, b) in enumerate(zip(first[:n], prompt.tokens, strict=False))
                  if a != b), n)
    return list(first[:max(n, 0)])


@dataclass
class BatchPrompt:
    """One prompt to answer: its tokens, its reply cap, its stops and its logits processor."""

    tokens: list[int]
    max_tokens: int
    processor: Processor | None = None
    stop: Sequence[str] = ()
    logprobs: bool = False
    """Return each reply token's log-prob (`BatchReply.logprobs`)."""
    beams: int = 1
    """Beam search over this many beams (see the module text); 1 is greedy. The processor,
    if any, must have `fork()` (a copy with its own state). Stop strings do not end beams."""


@dataclass
class BatchReply:
    """A finished reply: its tokens, text, why it ended ("stop" or "length"), and, where its
    prompt asked, each token's text and log-prob under the model (before the prompt's logits
    processor)."""

    tokens: list[int]
    text: str
    finish_reason: str
    logprobs: TokenLogprobs | None = None


@dataclass
class _Slot:
    index: int
    prompt: BatchPrompt
    fed: int = 0
    """Prompt tokens already in the KV cache."""
    reply: list[int] = field(default_factory=list)
    logprobs: list[float] = field(default_factory=list)
    processor: Processor | None = None
    """The reply's processor: the prompt's, or a beam's own fork of it."""
    score: float = 0.0
    """The beam's log-prob so far, after the processor (beam search)."""
    beams: _Beams | None = None


@dataclass
class _Beams:
    """A prompt's beams: the slots it holds (the first prefills the prompt) and the replies
    finished so far, as (log-prob per token, tokens, log-probs, finish reason)."""

    seqs: list[int]
    finished: list[tuple[float, list[int], list[float], str]] = field(default_factory=list)


class BatchDecoder:
    """`slots` sequences decoded together on a context of their own over `llama`'s weights."""

    def __init__(self, llama: Any, *, slots: int = 8, slot_ctx: int = 1536, n_batch: int = 512,
                 n_threads: int | None = None, flash_attn: bool = True,
                 ordered: bool = True, compact: bool = True) -> None:
        import llama_cpp
        import numpy as np

        self._np = np
        self._llama_cpp = llama_cpp
        self.llama = llama
        self.slots = slots
        self.slot_ctx = slot_ctx
        self.n_batch = n_batch
        self.ordered = ordered
        """Feed each step's sequences in id order (see `_step`); False feeds them in the order
        their slots started, as kgx did before, only to measure the difference."""
        self.compact = compact and ordered
        """Move the replies in the highest slots into free lower ones no prompt could take
        (`_compact`: at the end of a call, or waiting for a beam search's slots), so a step's
        sequence ids stay consecutive."""
        # The generator's own settings (attention kernel, KV types...), so replies match its.
        params = type(llama.context_params).from_buffer_copy(llama.context_params)
        params.n_ctx = slots * slot_ctx
        params.n_batch = params.n_ubatch = n_batch
        params.n_seq_max = slots
        threads = n_threads or llama.n_threads
        params.n_threads = params.n_threads_batch = threads
        if flash_attn:  # 1.2× faster here on CPU with 16 slots (rounding differs slightly)
            params.flash_attn_type = llama_cpp.LLAMA_FLASH_ATTN_TYPE_ENABLED
        params.no_perf = True
        self.ctx = llama_cpp.llama_init_from_model(llama._model.model, params)
        if not self.ctx:
            raise LLMError(f"llama.cpp could not make a context of {slots} × {slot_ctx} tokens "
                           "for batched decoding; lower the slots.")
        adapter = getattr(llama, "_lora_adapter", None)
        if adapter is not None:
            adapters = (llama_cpp.llama_adapter_lora_p_ctypes * 1)(adapter)
            scales = (ctypes.c_float * 1)(getattr(llama, "lora_scale", 1.0))
            if llama_cpp.llama_set_adapters_lora(self.ctx, adapters, 1, scales):
                self.close()
                raise LLMError("llama.cpp could not apply the LoRA adapter to the batch context")
        self.memory = llama_cpp.llama_get_memory(self.ctx)
        self.batch = llama_cpp.llama_batch_init(n_batch, 0, 1)
        self._prefix: tuple[tuple[int, ...], Any] | None = None
        """The last shared prompt start and its KV cells (`_shared_state`)."""
        self.vocab = llama_cpp.llama_model_get_vocab(llama._model.model)
        self.n_vocab = llama.n_vocab()

    def generate(self, prompts: Sequence[BatchPrompt]) -> list[BatchReply | LLMError]:
        """Every prompt's greedy reply, in order; a prompt too long for a slot gets an LLMError."""
        replies: list[BatchReply | LLMError | None] = [None] * len(prompts)
        self.run(deque(enumerate(prompts)), replies, shared_prefix(prompts))
        return [r for r in replies if r is not None]

    def run(self, waiting: deque[tuple[int, BatchPrompt]],
            replies: list[BatchReply | LLMError | None], prefix: Sequence[int] = ()) -> None:
        """Answer prompts taken from `waiting` (index, prompt) into `replies[index]` until it
        is empty. Several decoders in threads may share one `waiting`: a free slot takes the
        next prompt, so no decoder idles while another still has prompts queued. A prompt that
        starts with `prefix` (`shared_prefix`) gets its KV cells copied, not prefilled."""
        shared = self._shared_state(tuple(prefix))
        running: dict[int, _Slot] = {}
        free = list(range(self.slots))  # a heap: the lowest free sequence id goes first
        while True:
            while free:
                try:
                    index, prompt = waiting.popleft()  # atomic: decoders may share the queue
                except IndexError:
                    break
                if not prompt.tokens or len(prompt.tokens) + prompt.max_tokens > self.slot_ctx:
                    replies[index] = LLMError(
                        f"a prompt of {len(prompt.tokens)} tokens with a reply cap of "
                        f"{prompt.max_tokens} does not fit a batch slot of {self.slot_ctx} "
                        "tokens; give a shorter chunk or a lower cap.")
                    continue
                if not 1 <= prompt.beams <= self.slots:
                    replies[index] = LLMError(f"{prompt.beams} beams do not fit a decoder of "
                                              f"{self.slots} slots; ask for 1 to {self.slots}.")
                    continue
                if prompt.beams > len(free):  # its beams take several slots: wait for them
                    waiting.appendleft((index, prompt))
                    break
                seqs = sorted(heapq.heappop(free) for _ in range(prompt.beams))
                seq, slot = seqs[0], _Slot(index, prompt, processor=prompt.processor)
                if prompt.beams > 1:
                    slot.beams = _Beams(seqs)
                if shared is not None and tuple(prompt.tokens[:len(prefix)]) == shared[0]:
                    slot.fed = self._restore(shared, seq)
                running[seq] = slot
            if not running:
                return
            if self.compact:  # free slots no prompt could take
                self._compact(running, free)
            rows = self._step(running)
            searches: dict[int, list[tuple[int, Any]]] = {}
            for seq, logits in rows:
                slot = running[seq]
                if slot.beams is not None:  # stepped together, below
                    searches.setdefault(slot.beams.seqs[0], []).append((seq, logits))
                    continue
                token, logprob = self._choose(slot, logits)
                reply = self._advance(slot, token, logprob)
                if reply is not None:
                    replies[slot.index] = reply
                    del running[seq]
                    self._llama_cpp.llama_memory_seq_rm(self.memory, seq, -1, -1)
                    heapq.heappush(free, seq)
            for beam_rows in searches.values():
                beams, index = running[beam_rows[0][0]].beams, running[beam_rows[0][0]].index
                reply = self._beam_step(beams, beam_rows, running)
                if reply is not None:
                    replies[index] = reply
                    for seq in beams.seqs:
                        running.pop(seq, None)
                        self._llama_cpp.llama_memory_seq_rm(self.memory, seq, -1, -1)
                        heapq.heappush(free, seq)

    def _step(self, running: dict[int, _Slot]) -> list[tuple[int, Any]]:
        """One llama_decode: the next token of every replying slot, and as many prompt tokens
        as fit after them; the logits rows of the slots whose next token is now due.

        The tokens go in in sequence order, each sequence's together. With a KV stream per
        sequence, llama.cpp cuts a batch into micro-batches of consecutive sequence ids with
        as many tokens each, and every micro-batch reads all of the weights again: in slot
        order a step of 16 replies is one pass, in the order slots happened to free up it was
        up to 16 (1.4× the time of a whole run, measured with one decoder on 32 passages)."""
        replying = sum(1 for slot in running.values()
                       if slot.fed == len(slot.prompt.tokens) and slot.reply)
        room = self.n_batch - replying
        batch, n, due = self.batch, 0, []
        for seq in sorted(running) if self.ordered else list(running):
            slot = running[seq]
            remaining = len(slot.prompt.tokens) - slot.fed
            if remaining <= 0:
                if slot.reply:
                    n = self._add(n, slot.reply[-1], slot.fed + len(slot.reply) - 1, seq, True)
                    due.append((seq, n - 1))
                continue
            take = min(remaining, room)
            if take <= 0:
                continue
            for offset in range(take):
                last = slot.fed + offset == len(slot.prompt.tokens) - 1
                n = self._add(n, slot.prompt.tokens[slot.fed + offset], slot.fed + offset, seq,
                              last)
            room -= take
            slot.fed += take
            if slot.fed == len(slot.prompt.tokens):
                due.append((seq, n - 1))
        batch.n_tokens = n
        status = self._llama_cpp.llama_decode(self.ctx, batch)
        if status != 0:
            raise LLMError(f"llama_decode failed with status {status} in batched decoding")
        np = self._np
        rows = []
        for seq, i in due:
            pointer = self._llama_cpp.llama_get_logits_ith(self.ctx, i)
            rows.append((seq, np.ctypeslib.as_array(pointer, shape=(self.n_vocab,)).copy()))
        return rows

    def _compact(self, running: dict[int, _Slot], free: list[int]) -> None:
        """Close the gaps finished replies leave in the running sequence ids: the reply in the
        highest slot moves (its KV cells copied) to the lowest free one, until no free slot
        lies below a running one. llama.cpp cuts a step into one micro-batch per run of
        consecutive ids, each reading all of the weights (see `_step`), so without this the
        last replies of a call ran in up to `slots` passes a step. A beam moves with its
        processor state, and its prompt's slot list follows."""
        while free and running:
            top = max(running)
            if free[0] > top:
                return
            target, slot = heapq.heappop(free), running.pop(top)
            if slot.fed:
                self._copy_cells(top, target)
            self._llama_cpp.llama_memory_seq_rm(self.memory, top, -1, -1)
            if slot.beams is not None:
                slot.beams.seqs[slot.beams.seqs.index(top)] = target
            running[target] = slot
            heapq.heappush(free, top)

    def _shared_state(self, prefix: tuple[int, ...]) -> tuple[tuple[int, ...], Any] | None:
        """The KV cells of `prefix` as llama.cpp's sequence state (prefilled once, on the free
        sequence 0, and kept for the next call with the same prefix); None for a short one."""
        if len(prefix) < MIN_SHARED_PREFIX:
            return None
        if self._prefix is not None and self._prefix[0] == prefix:
            return self._prefix
        llama_cpp = self._llama_cpp
        for start in range(0, len(prefix), self.n_batch):
            n = 0
            for pos in range(start, min(start + self.n_batch, len(prefix))):
                n = self._add(n, prefix[pos], pos, 0, False)
            self.batch.n_tokens = n
            if llama_cpp.llama_decode(self.ctx, self.batch) != 0:
                llama_cpp.llama_memory_seq_rm(self.memory, 0, -1, -1)
                return None  # no room: every prompt prefills in full, as without sharing
        size = llama_cpp.llama_state_seq_get_size(self.ctx, 0)
        state = (ctypes.c_uint8 * size)()
        written = llama_cpp.llama_state_seq_get_data(self.ctx, state, size, 0)
        llama_cpp.llama_memory_seq_rm(self.memory, 0, -1, -1)
        self._prefix = (prefix, (state, written)) if written else None
        return self._prefix

    def _restore(self, shared: tuple[tuple[int, ...], Any], seq: int) -> int:
        """Copy the shared prefix's KV cells into `seq`: how many prompt tokens it saves."""
        state, size = shared[1]
        read = self._llama_cpp.llama_state_seq_set_data(self.ctx, state, size, seq)
        return len(shared[0]) if read else 0

    def _add(self, n: int, token: int, pos: int, seq: int, logits: bool) -> int:
        batch = self.batch
        batch.token[n] = token
        batch.pos[n] = pos
        batch.n_seq_id[n] = 1
        batch.seq_id[n][0] = seq
        batch.logits[n] = logits
        return n + 1

    def _choose(self, slot: _Slot, logits: Any) -> tuple[int, float]:
        """The next token (the processor's choice, or the best) and, where the prompt asks,
        its log-prob under the model's own logits (else 0)."""
        np = self._np
        raw = logits.copy() if slot.prompt.logprobs else None  # the processor masks in place
        if slot.processor is not None:
            ids = np.asarray(slot.prompt.tokens + slot.reply, dtype=np.intc)
            logits = slot.processor(ids, logits)
        token = int(logits.argmax())
        return token, 0.0 if raw is None else float(raw[token]) - _log_norm(np, raw)

    def _beam_step(self, beams: _Beams, rows: list[tuple[int, Any]],
                   running: dict[int, _Slot]) -> BatchReply | None:
        """One step of a prompt's beam search over its beams' logits `rows`: the next beams
        in its slots, or its reply once it is done."""
        np, llama_cpp = self._np, self._llama_cpp
        width, prompt = len(beams.seqs), running[rows[0][0]].prompt
        candidates = []  # (log-prob of the beam with the token, parent seq, token, raw log-prob)
        for seq, logits in rows:
            slot = running[seq]
            raw = logits - _log_norm(np, logits)
            scores = raw.copy()  # the processor masks in place, and sees log-probs
            if slot.processor is not None:
                ids = np.asarray(slot.prompt.tokens + slot.reply, dtype=np.intc)
                scores = slot.processor(ids, scores)
            for token in _best(np, scores, 2 * width):
                candidates.append((slot.score + float(scores[token]), seq, int(token),
                                   float(raw[token])))
        candidates.sort(key=lambda c: -c[0])
        chosen = []
        for rank, (score, seq, token, logprob) in enumerate(candidates):
            if llama_cpp.llama_vocab_is_eog(self.vocab, token):
                if rank < width:  # an end among the best `width` finishes its beam
                    parent = running[seq]
                    beams.finished.append((score / (len(parent.reply) + 1), list(parent.reply),
                                           list(parent.logprobs), "stop"))
            elif len(chosen) < width:
                chosen.append((score, seq, token, logprob))
        if chosen and len(beams.finished) < width:
            self._next_beams(beams, chosen, running)
            beam_slots = [running[seq] for seq in beams.seqs if seq in running]
            if all(len(slot.reply) < slot.prompt.max_tokens for slot in beam_slots):
                return None
            beams.finished += [(slot.score / len(slot.reply), slot.reply, slot.logprobs, "length")
                               for slot in beam_slots]
        if not beams.finished:  # no beam could go on, and none ended: the best as it stands
            beams.finished = [(slot.score / max(len(slot.reply), 1), slot.reply, slot.logprobs,
                               "stop") for slot in (running[seq] for seq, _ in rows)]
        _, tokens, logprobs, finish = max(beams.finished, key=lambda f: f[0])
        return BatchReply(list(tokens), self._text(tokens), finish,
                          self._pairs(tokens, logprobs) if prompt.logprobs else None)

    def _next_beams(self, beams: _Beams, chosen: list[tuple[float, int, int, float]],
                    running: dict[int, _Slot]) -> None:
        """Put the chosen continuations in the prompt's slots: a parent's first continuation
        stays in its slot; any other goes to a slot freed this step, with a copy of the
        parent's KV cells and processor state."""
        llama_cpp = self._llama_cpp
        parents = {seq for _, seq, _, _ in chosen}
        for seq in beams.seqs:  # beams with no continuation end here
            if seq in running and seq not in parents:
                del running[seq]
                llama_cpp.llama_memory_seq_rm(self.memory, seq, -1, -1)
        spare = [seq for seq in beams.seqs if seq not in running]
        staying, moving, seen = [], [], set()
        for choice in chosen:
            (moving if choice[1] in seen else staying).append(choice)
            seen.add(choice[1])
        children = []
        for score, seq, token, logprob in moving:  # copied before their parents move on
            parent, target = running[seq], spare.pop(0)
            self._copy_cells(seq, target)
            children.append((target, _Slot(
                parent.index, parent.prompt, parent.fed, [*parent.reply, token],
                [*parent.logprobs, logprob],
                None if parent.processor is None else parent.processor.fork(), score,
                beams)))
        for score, seq, token, logprob in staying:
            slot = running[seq]
            slot.reply.append(token)
            slot.logprobs.append(logprob)
            slot.score = score
        running.update(children)

    def _copy_cells(self, source: int, target: int) -> None:
        """Give sequence `target` a copy of `source`'s KV cells (llama.cpp's sequence state)."""
        llama_cpp = self._llama_cpp
        llama_cpp.llama_memory_seq_rm(self.memory, target, -1, -1)
        size = llama_cpp.llama_state_seq_get_size(self.ctx, source)
        state = (ctypes.c_uint8 * size)()
        written = llama_cpp.llama_state_seq_get_data(self.ctx, state, size, source)
        if not written or not llama_cpp.llama_state_seq_set_data(self.ctx, state, written,
                                                                 target):
            raise LLMError("llama.cpp could not copy a beam's KV cells to another slot")

    def _advance(self, slot: _Slot, token: int, logprob: float = 0.0) -> BatchReply | None:
        """Append `token` to the slot's reply; the finished reply when it ends there."""
        llama_cpp = self._llama_cpp
        if llama_cpp.llama_vocab_is_eog(self.vocab, token):
            return self._reply(slot, "stop")
        slot.reply.append(token)
        slot.logprobs.append(logprob)
        if slot.prompt.stop:
            # A stop just completed lies in its last len(stop bytes) tokens (a token writes a
            # byte or more): only those are decoded each step, the whole reply once one matches.
            tail = self._text(slot.reply[-max(len(s.encode()) for s in slot.prompt.stop) - 1:])
            if any(stop in tail for stop in slot.prompt.stop):
                text = self._text(slot.reply)
                at = min(i for i in (text.find(stop) for stop in slot.prompt.stop) if i >= 0)
                return self._reply(slot, "stop", text[:at])
        if len(slot.reply) >= slot.prompt.max_tokens:
            return self._reply(slot, "length")
        return None

    def _reply(self, slot: _Slot, finish: str, text: str | None = None) -> BatchReply:
        return BatchReply(list(slot.reply), self._text(slot.reply) if text is None else text,
                          finish, self._pairs(slot.reply, slot.logprobs)
                          if slot.prompt.logprobs else None)

    def _pairs(self, tokens: list[int], logprobs: list[float]) -> TokenLogprobs:
        return tuple((self._text([token]), logprob)
                     for token, logprob in zip(tokens, logprobs, strict=True))

    def _text(self, tokens: list[int]) -> str:
        return self.llama.detokenize(tokens).decode("utf-8", errors="ignore")

    def close(self) -> None:
        """Free the context and the batch (the weights stay with `llama`)."""
        llama_cpp = self._llama_cpp
        if getattr(self, "batch", None) is not None:
            llama_cpp.llama_batch_free(self.batch)
            self.batch = None
        if self.ctx:
            llama_cpp.llama_free(self.ctx)
            self.ctx = None


def _log_norm(np: Any, logits: Any) -> float:
    """log(sum(exp(logits))), computed stably: subtracted, it turns logits into log-probs."""
    top = float(logits.max())
    return top + float(np.log(np.exp(logits - top).sum()))


def _best(np: Any, scores: Any, k: int) -> Any:
    """The ids of the (at most) `k` best finite scores. A row the processor masked is mostly
    -inf, where numpy's partition slows down some tenfold, so its few finite ids go first."""
    allowed = np.flatnonzero(scores > -np.inf)
    if allowed.size <= 4 * k:
        return allowed[np.argsort(-scores[allowed])[:k]]
    return np.argpartition(scores, -k)[-k:]
