"""llama.cpp in process (llama-cpp-python): GGUF models, schema-constrained JSON, log-probs.

On CPU this is kgx's default generator. Requests run one after another on one model; llama.cpp
already uses every core for each. JSON schemas are enforced with xgrammar masks where xgrammar
is installed (1.4× faster than llama.cpp's GBNF sampler here), else with GBNF. Scoring and next
tokens run on a second instance with `logits_all` (on CPU both map the same weights file), so
they never disturb generation.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Literal

from kgx.errors import ConfigError, LLMError, require
from kgx.llm.llamacpp_grammar import SchemaMasks
from kgx.llm.repeat_guard import GUARD_KEY
from kgx.llm.types import Completion, LLMRequest, ScoredText, ScoreRequest

DEFAULT_CONTEXT = 4096
SCORE_CONTEXT = 1024


class LlamaCppLLM:
    """An `LLMBackend` running a GGUF file with llama-cpp-python.

        backend = LlamaCppLLM(bundled_gguf())          # what the `local` spec gives
        backend = LlamaCppLLM("models/qwen2.5-7b-instruct-q4_k_m.gguf", n_ctx=8192)
        backend = LlamaCppLLM(bundled_gguf(), lora="student-lora.gguf")  # a GGUF LoRA

    `lora` is a GGUF LoRA adapter file, or an adapter folder that `lora_converter(folder,
    model_path)` turns into one on first load (the student's PEFT folders: see
    `kgx.distill.backend`, which the `student-llamacpp` spec uses); with `merge_lora` the
    converter writes the whole model with the adapter merged in, which then loads in place of
    `model_path` (1.6× faster decoding than a runtime LoRA for the student).
    """

    exact_token_counts = True

    def __init__(self, model_path: str | Path, *, n_ctx: int = DEFAULT_CONTEXT,
                 n_threads: int | None = None, score_ctx: int = SCORE_CONTEXT,
                 grammar: Literal["auto", "xgrammar", "gbnf"] = "auto",
                 name: str | None = None, lora: str | Path | None = None,
                 lora_converter: Callable[[Path, Path], Path] | None = None,
                 json_separators: tuple[str, str] | None = None,
                 repeat_guard: bool = False, copy_spans: bool = False,
                 batch_slots: int = 1, batch_workers: int | None = None,
                 beams: int = 1,
                 merge_lora: bool | str = False) -> None:
        self.model_path = Path(model_path)
        self.lora = Path(lora) if lora is not None else None
        self.lora_converter = lora_converter
        self.model = self.model_path.name
        self.merge_lora = merge_lora and self.lora is not None and self.lora.is_dir()
        """Load the model `lora_converter` writes with the adapter folded into its weights
        (kgx.distill.gguf_lora.merge_adapter), not the base model plus a runtime LoRA; a
        string names the ggml type the converter stores the merged matrices in."""
        if self.lora is not None:  # the adapter's weights are part of the model's identity
            self.model += f"+lora:{_lora_fingerprint(self.lora)}"
        if self.merge_lora:
            # Q8_0, the merger's default, keeps the key replies were cached under before
            self.model += "+merged" if merge_lora in (True, "Q8_0") else f"+merged:{merge_lora}"
        self.json_separators = json_separators
        """Separators the xgrammar JSON mask forces (None: ", " and ": "); see TransformersLLM."""
        self.repeat_guard = repeat_guard
        """End a schema reply's top-level lists at their first repeated item (with xgrammar)."""
        if json_separators is not None:  # decoding options change the replies, so cache keys
            self.model += f"+json:{''.join(json_separators)}"
        if repeat_guard:
            self.model += GUARD_KEY
        self.copy_spans = copy_spans
        """With the line guard: hold entity lines to spans of the user's message (the passage)."""
        if copy_spans:
            self.model += "+copy"
        self.beams = beams
        """Beam search over this many beams for free-text replies (1: greedy); each reply
        takes that many batch slots (`BatchPrompt.beams`)."""
        if beams > 1:
            self.model += f"+beams{beams}"
        self.name = name or f"llamacpp:{self.model_path}"
        self.n_ctx = n_ctx
        self.score_ctx = score_ctx
        self.n_threads = n_threads or default_threads()
        self.grammar = grammar
        self._masks: SchemaMasks | None = None
        self._line_guard: Any = None
        self.student_format: str | None = None
        """The reply format of a kgx student served here ("v1", "v2"); None for other models."""
        self.batch_slots = batch_slots
        """Greedy free-text requests of one call decoded together, this many at a time, on a
        context of their own (kgx.llm.llamacpp_batch); 1 decodes them one after another."""
        self.batch_workers = batch_workers or default_batch_workers()
        """Batch decoders running side by side, one thread each, on contexts of their own:
        single-threaded llama.cpp never spins waiting for a busy core, so on a shared machine
        two of them beat one on two threads (see default_batch_workers)."""
        self.share_prefix = True
        """Batched prompts prefill their common start (chat template, system prompt) once a
        decoder and copy its KV cells into each slot (kgx.llm.llamacpp_batch.shared_prefix)."""
        self.ordered_steps = True
        """Each batched step feeds its sequences in id order (BatchDecoder.ordered); False only
        to measure what that order gains (benchmarks/student_serving.py)."""
        self.compact_slots = True
        """Batch decoders move replies into free lower slots (BatchDecoder.compact); False
        only to measure what that gains (benchmarks/student_serving.py)."""
        self._batchers: list[Any] = []
        self._formatter: Any = None
        self.batch_size: int | None = (CALL_WAVES * self.batch_slots * self.batch_workers
                                       if self.batch_slots > 1 else None)
        """Requests one `complete` call should bring (the pipeline's chunks per extract call):
        `CALL_WAVES` times the slots, so only a call's last wave leaves slots idle; None when
        requests run one after another."""
        self._generator: Any = None
        self._scorer: Any = None
        self._lock = threading.Lock()

    def _load(self, *, logits_all: bool, n_ctx: int) -> Any:
        llama_cpp = require("llama_cpp", "local")
        if not self.model_path.is_file():
            raise ConfigError(f"No GGUF model at {self.model_path}; give the path of a .gguf "
                              "file, or use the spec `local` for the bundled SmolLM2.")
        lora = self._lora_file()
        model_path = self.model_path
        if self.merge_lora:
            model_path, lora = Path(lora), None
        try:
            return llama_cpp.Llama(model_path=str(model_path), n_ctx=n_ctx,
                                   n_threads=self.n_threads, logits_all=logits_all,
                                   lora_path=lora, lora_scale=1.0, verbose=False)
        except (ValueError, RuntimeError) as e:
            raise ConfigError(f"llama.cpp cannot load {self.model_path}"
                              f"{f' with the LoRA {lora}' if lora else ''}: {e}. Is it a GGUF "
                              "file this llama-cpp-python version supports?") from e

    def _lora_file(self) -> str | None:
        """The GGUF LoRA file to load, converting a PEFT adapter folder (once) if given one."""
        if self.lora is None:
            return None
        if self.lora.is_dir():
            if self.lora_converter is None:
                raise ConfigError(f"The LoRA adapter {self.lora} is a folder, and llama.cpp "
                                  "loads GGUF LoRA files; use the spec "
                                  f"student-llamacpp:{self.lora}, which converts it.")
            return str(self.lora_converter(self.lora, self.model_path))
        if not self.lora.is_file():
            raise ConfigError(f"No LoRA adapter at {self.lora}; give a GGUF LoRA file or the "
                              "--out folder of `kgx distill train`.")
        return str(self.lora)

    @property
    def generator(self) -> Any:
        """The llama.cpp model used for generation, loaded on first use."""
        if self._generator is None:
            self._generator = self._load(logits_all=False, n_ctx=self.n_ctx)
        return self._generator

    @property
    def masks(self) -> SchemaMasks | None:
        """xgrammar schema masks when `grammar` allows and the tokenizer is supported."""
        if self._masks is None and self.grammar != "gbnf":
            if SchemaMasks.supports(self.generator):
                self._masks = SchemaMasks(self.generator, separators=self.json_separators,
                                          repeat_guard=self.repeat_guard)
            elif self.grammar == "xgrammar":
                raise ConfigError(f"{self.name}: xgrammar (with torch) is not installed or does "
                                  "not know this model's tokenizer; use grammar='gbnf'.")
            else:
                self.grammar = "gbnf"
        return self._masks

    def warm_up(self) -> None:
        """Load the model now."""
        _ = self.generator

    def complete(self, requests: Sequence[LLMRequest]) -> list[Completion | LLMError]:
        """Chat completions, JSON-schema-constrained where a schema is given."""
        with self._lock:
            batched = [i for i, r in enumerate(requests) if self._batchable(r)]
            replies: dict[int, Completion | LLMError] = {}
            # One request alone goes through llama-cpp-python, unless it wants log-probs,
            # which only the batched decoder gives (without `logits_all`), or beams.
            if len(batched) > 1 or self.beams > 1 or any(requests[i].params.logprobs
                                                         for i in batched):
                replies.update(zip(batched, self._complete_batched([requests[i]
                                                                     for i in batched]),
                                   strict=True))
            return [replies[i] if i in replies else self._complete_one(request)
                    for i, request in enumerate(requests)]

    def _batchable(self, request: LLMRequest) -> bool:
        """Whether `request` can join a batch: greedy free text (no schema) on a model whose
        GGUF carries its chat template."""
        return (self.batch_slots > 1 and request.response_model is None
                and request.params.temperature == 0
                and bool(self.generator.metadata.get("tokenizer.chat_template")))

    def _complete_batched(self, requests: Sequence[LLMRequest]) -> list[Completion | LLMError]:
        from kgx.llm.llamacpp_batch import BatchDecoder, BatchPrompt

        if not self._batchers:
            self._batchers = [BatchDecoder(self.generator, slots=self.batch_slots, n_threads=1,
                                           ordered=self.ordered_steps,
                                           compact=self.compact_slots)
                              for _ in range(self.batch_workers)]
        prompts = []
        for request in requests:
            tokens, stop = self._chat_prompt(request)
            processor = (self._guard_for(request.messages[-1].content
                                         if self.copy_spans else None,
                                         request.params.max_tokens, keep=_kept(self.beams))
                         if self.repeat_guard else None)
            prompts.append(BatchPrompt(tokens, request.params.max_tokens, processor,
                                       stop=[*request.params.stop, *stop],
                                       logprobs=request.params.logprobs, beams=self.beams))
        return [reply if isinstance(reply, LLMError) else
                Completion(reply.text, len(prompt.tokens), len(reply.tokens),
                           reply.finish_reason, reply.logprobs)
                for prompt, reply in zip(prompts, self._generate_batched(prompts), strict=True)]

    def _generate_batched(self, prompts: list[Any]) -> list[Any]:
        """The prompts answered by the batch decoders, which run in threads of their own
        (llama_decode releases the GIL) and take prompts from one queue; replies in order."""
        from collections import deque

        from kgx.llm.llamacpp_batch import shared_prefix

        decoders = self._batchers[:len(prompts)]
        waiting, replies = deque(enumerate(prompts)), [None] * len(prompts)
        prefix = shared_prefix(prompts) if self.share_prefix else []
        if len(decoders) == 1:
            decoders[0].run(waiting, replies, prefix)
            return replies
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(len(decoders), thread_name_prefix="kgx-llamacpp") as pool:
            for done in [pool.submit(decoder.run, waiting, replies, prefix)
                         for decoder in decoders]:
                done.result()
        return replies

    def _chat_prompt(self, request: LLMRequest) -> tuple[list[int], list[str]]:
        """A request's prompt tokens and stop strings, rendered by the GGUF's chat template as
        llama-cpp-python's chat completion renders them."""
        model = self.generator
        if self._formatter is None:  # compiles the Jinja template: once, not per request
            from llama_cpp.llama_chat_format import Jinja2ChatFormatter

            text = model._model.token_get_text
            self._formatter = Jinja2ChatFormatter(model.metadata["tokenizer.chat_template"],
                                                  eos_token=text(model.token_eos()),
                                                  bos_token=text(model.token_bos()))
        result = self._formatter(messages=[m.model_dump() for m in request.messages])
        tokens = model.tokenize(result.prompt.encode("utf-8"), add_bos=not result.added_special,
                                special=True)
        stop = result.stop if isinstance(result.stop, list) else [result.stop] if result.stop \
            else []
        return tokens, stop

    def _complete_one(self, request: LLMRequest) -> Completion | LLMError:
        params = request.params
        kwargs: dict[str, Any] = {
            "messages": [m.model_dump() for m in request.messages],
            "temperature": params.temperature, "top_p": params.top_p,
            "max_tokens": params.max_tokens, "stop": list(params.stop) or None,
        }
        if params.seed is not None:
            kwargs["seed"] = params.seed
        schema = request.json_schema()
        if schema is not None and self.masks is not None:
            kwargs["logits_processor"] = self.masks.processor(schema)
        elif schema is not None:
            kwargs["response_format"] = {"type": "json_object", "schema": schema}
        elif self.repeat_guard:  # a reply in lines: the student's v2 format
            kwargs["logits_processor"] = self._line_guard_processor(
                request.messages[-1].content if self.copy_spans else None, params.max_tokens)
        try:
            out = self.generator.create_chat_completion(**kwargs)
        except ValueError as e:  # e.g. the prompt is longer than the context window
            return LLMError(f"{self.name}: {e}")
        choice, usage = out["choices"][0], out["usage"]
        return Completion(choice["message"].get("content") or "", usage["prompt_tokens"],
                          usage["completion_tokens"], choice.get("finish_reason") or "stop")

    def _line_guard_processor(self, copy_from: str | None, budget: int | None = None,
                              keep: int = 1) -> Any:
        """The line guard as llama-cpp-python's completion takes it (a processor list)."""
        from llama_cpp import LogitsProcessorList

        return LogitsProcessorList([self._guard_for(copy_from, budget, keep)])

    def _guard_for(self, copy_from: str | None, budget: int | None = None,
                   keep: int = 1) -> Any:
        """A reply's line guard on numpy rows (beam search forks it)."""
        from kgx.llm.line_guard import LineGuard, LineGuardNumpy

        if self._line_guard is None:
            model = self.generator
            texts = [model.detokenize([i]).decode("utf-8", errors="replace")
                     for i in range(model.n_vocab())]
            self._line_guard = LineGuard(
                texts, separator_ids=model.tokenize(b"---\n", add_bos=False, special=False),
                eos_ids=[model.token_eos()],
                numbered_ends=self.student_format == "v2")
        return LineGuardNumpy(self._line_guard, copy_from, budget, keep)

    def score(self, requests: Sequence[ScoreRequest]) -> list[ScoredText]:
        """Log-probs from one forward pass per text, on a second model kept for scoring."""
        with self._lock:
            return [self._score_one(request) for request in requests]

    def _scoring_model(self) -> Any:
        """The model with `logits_all`, for scoring and next tokens; call with the lock held."""
        if self._scorer is None:
            self._scorer = self._load(logits_all=True, n_ctx=self.score_ctx)
        return self._scorer

    def _scoring_tokens(self, text: str) -> list[int]:
        """`text`'s tokens (with BOS where the model adds one), within the scoring context."""
        tokens = self._scoring_model().tokenize(text.encode(), add_bos=True, special=False)
        if len(tokens) > self.score_ctx:
            raise LLMError(f"{self.name}: a scored text has {len(tokens)} tokens, more than the "
                           f"scoring context of {self.score_ctx}; raise score_ctx.")
        return tokens

    def _score_one(self, request: ScoreRequest) -> ScoredText:
        import numpy as np

        scorer = self._scoring_model()
        tokens = self._scoring_tokens(request.prompt + request.continuation)
        pieces = [scorer.detokenize([t]) for t in tokens]
        ends = np.cumsum([len(p) for p in pieces])
        bos = 1 if pieces and not pieces[0] else 0  # BOS detokenizes to nothing
        first = max(bos, int(np.searchsorted(ends, len(request.prompt.encode()), side="right")))
        first = max(first, 1)  # the first token of a text has no conditional probability
        scorer.reset()
        scorer.eval(tokens)
        logits = np.asarray(scorer.scores[:len(tokens)], dtype=np.float64)
        rows = logits[first - 1:len(tokens) - 1]
        shifted = rows - rows.max(axis=1, keepdims=True)
        logsumexp = np.log(np.exp(shifted).sum(axis=1))
        chosen = shifted[np.arange(len(rows)), tokens[first:]] - logsumexp
        words = tuple(p.decode("utf-8", "replace") for p in pieces[first:])
        return ScoredText(words, tuple(float(x) for x in chosen))

    def next_tokens(self, prefixes: Sequence[str], k: int) -> list[list[tuple[str, float]]]:
        """The k likeliest next tokens of each prefix, from the scoring model's last logits."""
        with self._lock:
            return [self._next_tokens_one(prefix, k) for prefix in prefixes]

    def _next_tokens_one(self, prefix: str, k: int) -> list[tuple[str, float]]:
        import numpy as np

        scorer = self._scoring_model()
        tokens = self._scoring_tokens(prefix)
        if not tokens:
            raise LLMError(f"{self.name}: this model adds no BOS token, so an empty prefix has "
                           "no next-token distribution; give a non-empty prefix.")
        scorer.reset()
        scorer.eval(tokens)
        logits = np.asarray(scorer.scores[len(tokens) - 1], dtype=np.float64)
        shifted = logits - logits.max()
        logprobs = shifted - np.log(np.exp(shifted).sum())
        k = min(k, len(logprobs))
        top = np.argpartition(-logprobs, k - 1)[:k]
        top = top[np.argsort(-logprobs[top], kind="stable")]
        # special=True: an end-of-turn token reads "<|im_end|>", as transformers decodes it.
        return [(scorer.detokenize([int(t)], special=True).decode("utf-8", "replace"),
                 float(logprobs[t])) for t in top]

    def count_tokens(self, text: str) -> int:
        """Exact, with the model's tokenizer (loads the model)."""
        return len(self.generator.tokenize(text.encode(), add_bos=False, special=False))

    def count_prompt_tokens(self, request: LLMRequest) -> int:
        """Exact prompt tokens of a request: its messages rendered by the model's chat template."""
        if not self.generator.metadata.get("tokenizer.chat_template"):
            return sum(self.count_tokens(m.content) + 4 for m in request.messages)
        return len(self._chat_prompt(request)[0])

    def close(self) -> None:
        """Free both models."""
        with self._lock:
            for batcher in self._batchers:
                batcher.close()
            for model in (self._generator, self._scorer):
                if model is not None:
                    model.close()
            self._generator = self._scorer = self._masks = self._formatter = None
            self._batchers = []


def _kept(beams: int) -> int:
    """How many allowed tokens the guard keeps in a row: a beam search ranks the best
    `2 × beams` continuations of each beam, so that many must be ones the guard allows."""
    return 1 if beams <= 1 else 2 * beams


def default_threads() -> int:
    """Half the cores, as llama-cpp-python chooses: llama.cpp's threads spin while they wait,
    so on a busy machine every core is worse than half of them (measured here on 2 shared cores
    with the student: 13 tokens/s on 1 thread, 3 on 2). $KGX_LLAMA_THREADS overrides it."""
    if os.environ.get("KGX_LLAMA_THREADS", "").isdigit():
        return max(1, int(os.environ["KGX_LLAMA_THREADS"]))
    return max(1, (os.cpu_count() or 2) // 2)


CALL_WAVES = 2
"""Slots' worth of requests a batched call brings. In a call's last wave replies end and no
request is left to take their slots; measured with the student on all 156 validation passages
(benchmarks/student_serving.py --per-call, 2 decoders × 16 slots): 1.00 chunks/s at 32 a call,
1.12 at 64 and 128, 1.21 with all in one call."""


def default_batch_workers() -> int:
    """One single-threaded batch decoder per core, at most 8 ($KGX_LLAMA_BATCH_WORKERS
    overrides it). Measured here with the student, 8 slots each, on 2 cores with another job on
    one of them: one decoder on 1 thread 230 tokens/s, on 2 threads 30."""
    if os.environ.get("KGX_LLAMA_BATCH_WORKERS", "").isdigit():
        return max(1, int(os.environ["KGX_LLAMA_BATCH_WORKERS"]))
    return max(1, min(os.cpu_count() or 1, 8))


def _lora_fingerprint(lora: Path) -> str:
    """An adapter's name and a hash of its weights (a PEFT folder's safetensors, or the GGUF)."""
    import hashlib

    weights = lora / "adapter_model.safetensors" if lora.is_dir() else lora
    if not weights.is_file():
        raise ConfigError(f"No LoRA adapter at {lora}; give a GGUF LoRA file or the --out "
                          "folder of `kgx distill train`.")
    return f"{lora.name}-{hashlib.sha256(weights.read_bytes()).hexdigest()[:12]}"
