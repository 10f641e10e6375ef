"""transformers in process: any causal LM (a GGUF file or an HF model), batched, on CPU or GPU.

Generation is batched `generate` calls with left padding, one per group of requests that share
sampling params and schema; schemas are enforced token by token with xgrammar. Scoring is
batched forward passes with right padding, next tokens with left padding. A `.gguf` path is
dequantized by transformers (needs `gguf` and `accelerate`), so it runs in full precision:
slower than llama.cpp on CPU.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from kgx.errors import ConfigError, LLMError, require
from kgx.llm.repeat_guard import GUARD_KEY
from kgx.llm.types import Completion, LLMRequest, SamplingParams, ScoredText, ScoreRequest

LOAD_ERRORS = (OSError, ValueError, RuntimeError, KeyError, TypeError, ImportError)


class TransformersLLM:
    """An `LLMBackend` running a causal LM with transformers.

        backend = TransformersLLM(bundled_gguf())                   # what the `hf:local` spec gives
        backend = TransformersLLM("Qwen/Qwen2.5-0.5B-Instruct", device="cuda")  # needs the hub

    A `.gguf` path loads through `gguf_file`, with no hub access; anything else is an HF model
    folder or hub id. `batch_size` bounds the rows of one `generate` call or forward pass.
    """

    exact_token_counts = True

    def __init__(self, model: str | Path, *, device: str | None = None, dtype: str = "auto",
                 batch_size: int = 8, name: str | None = None,
                 adapter: str | Path | None = None,
                 json_separators: tuple[str, str] | None = None,
                 repeat_guard: bool = False, copy_spans: bool = False) -> None:
        self.source = str(model)
        self.gguf = self.source.endswith(".gguf")
        self.adapter = Path(adapter) if adapter is not None else None
        self.json_separators = json_separators
        """Separators the JSON grammar forces, e.g. (",", ":") for a model trained on compact
        JSON such as the kgx student; None keeps xgrammar's (", ", ": ")."""
        self.repeat_guard = repeat_guard
        """End a schema reply's top-level lists at their first repeated item (kgx.llm.repeat_guard):
        keeps a small greedy model from looping until the token cap."""
        self._guard: Any = None
        self._line_guard: Any = None
        self.student_format: str | None = None
        """The reply format of a kgx student served here ("v1", "v2"); None for other models."""
        self.model = Path(self.source).name if self.gguf else self.source
        if self.adapter is not None:  # the adapter's weights are part of the model's identity
            self.model += f"+lora:{_adapter_fingerprint(self.adapter)}"
        if json_separators is not None:  # decoding options change the replies, so cache keys
            self.model += f"+json:{''.join(json_separators)}"
        if repeat_guard:
            self.model += GUARD_KEY
        self.copy_spans = copy_spans
        """With the line guard: hold entity lines to spans of the user's message (the passage)."""
        if copy_spans:
            self.model += "+copy"
        self.name = name or f"hf:{model}"
        self.device = device
        self.dtype = dtype
        self.batch_size = max(1, batch_size)
        self._model: Any = None
        self._tokenizer: Any = None
        self._grammars: dict[str, Any] = {}
        self._compiler: Any = None
        self._lock = threading.Lock()

    # -- loading --------------------------------------------------------------------------

    def warm_up(self) -> None:
        """Load the tokenizer and model now."""
        with self._lock:
            self._ensure_loaded()

    def _ensure_loaded(self) -> None:
        if self._model is not None:
            return
        torch = require("torch", "local")
        transformers = require("transformers", "local")
        device = self.device or ("cuda" if torch.cuda.is_available() else "cpu")
        where, kwargs = self._location()
        try:
            tokenizer = transformers.AutoTokenizer.from_pretrained(where, **kwargs)
            model = transformers.AutoModelForCausalLM.from_pretrained(
                where, dtype=_torch_dtype(torch, self.dtype, device), **kwargs)
            if self.adapter is not None:
                model = _merge_adapter(model, self.adapter)
            model = model.to(device).eval()
        except LOAD_ERRORS as e:
            raise ConfigError(f"transformers cannot load {self.source!r}: {e}. Give a .gguf file, "
                              "a local model folder, or a hub id (needs network access), and "
                              "check `device` and `dtype`.") from e
        if tokenizer.pad_token_id is None:
            tokenizer.pad_token = tokenizer.eos_token
        self._tokenizer, self._model = tokenizer, model

    def _location(self) -> tuple[str, dict[str, Any]]:
        """What to pass to `from_pretrained`: a folder plus `gguf_file`, or a path or hub id."""
        if not self.gguf:
            return self.source, {}
        path = Path(self.source).expanduser()
        if not path.is_file():
            raise ConfigError(f"No GGUF model at {path}; give the path of a .gguf file, or use "
                              "the spec `hf:local` for the bundled SmolLM2.")
        require("gguf", "local")
        require("accelerate", "local")  # transformers refuses GGUF files without it
        return str(path.parent), {"gguf_file": path.name}

    # -- generation -----------------------------------------------------------------------

    def complete(self, requests: Sequence[LLMRequest]) -> list[Completion | LLMError]:
        """Chat completions, batched by shared params and schema; schema-constrained if given."""
        results: list[Completion | LLMError | None] = [None] * len(requests)
        with self._lock:
            self._ensure_loaded()
            for indices in self._groups(requests):
                outcomes = self._generate([requests[i] for i in indices])
                for i, outcome in zip(indices, outcomes, strict=True):
                    results[i] = outcome
        return [r for r in results if r is not None]

    def _groups(self, requests: Sequence[LLMRequest]) -> Iterator[list[int]]:
        """Indices of requests one `generate` call can serve together, at most `batch_size`."""
        groups: dict[tuple[SamplingParams, str], list[int]] = {}
        for i, request in enumerate(requests):
            groups.setdefault((request.params, _schema_key(request)), []).append(i)
        for indices in groups.values():
            for start in range(0, len(indices), self.batch_size):
                yield indices[start:start + self.batch_size]

    def _generate(self, batch: list[LLMRequest]) -> list[Completion]:
        torch = require("torch", "local")
        tokenizer, params = self._tokenizer, batch[0].params
        prompts = [tokenizer.apply_chat_template([m.model_dump() for m in r.messages],
                                                 add_generation_prompt=True, tokenize=False)
                   for r in batch]
        encoded = tokenizer(prompts, return_tensors="pt", padding=True, padding_side="left",
                            add_special_tokens=False).to(self._model.device)
        if params.seed is not None and params.temperature > 0:
            torch.manual_seed(params.seed)
        kwargs = self._generate_kwargs(batch)
        recorder = _ChosenLogprobs() if params.logprobs else None
        if recorder is not None:  # first: it sees the model's own scores
            kwargs["logits_processor"].insert(0, recorder)
        with torch.inference_mode():
            output = self._model.generate(**encoded, **kwargs)
            new = output[:, encoded["input_ids"].shape[1]:]
            chosen = [None] * len(batch) if recorder is None else recorder.finish(output)
        prompt_tokens = encoded["attention_mask"].sum(dim=1).tolist()
        return [self._completion(row, int(n), params, logprobs)
                for row, n, logprobs in zip(new.tolist(), prompt_tokens, chosen, strict=True)]

    def _generate_kwargs(self, batch: list[LLMRequest]) -> dict[str, Any]:
        """`generate` arguments: greedy, or sampling with warpers placed after the grammar mask."""
        transformers = require("transformers", "local")
        params, schema = batch[0].params, batch[0].json_schema()
        processors = [] if schema is None else [self._grammar_processor(schema, len(batch))]
        if schema is not None and self.repeat_guard:
            processors.append(self._repeat_guard_processor())
        elif self.repeat_guard:  # a reply in lines: the student's v2 format
            processors.append(self._line_guard_processor(
                [r.messages[-1].content for r in batch] if self.copy_spans else None,
                params.max_tokens))
        kwargs: dict[str, Any] = {"max_new_tokens": params.max_tokens, "do_sample": False,
                                  "pad_token_id": self._tokenizer.pad_token_id,
                                  "temperature": None, "top_p": None, "top_k": None}
        if params.temperature > 0:
            # Custom processors run after generate's own warpers; top-p must run after the mask,
            # or it can keep only forbidden tokens, so both warpers are passed here, in order.
            processors.append(transformers.TemperatureLogitsWarper(params.temperature))
            if params.top_p < 1.0:
                processors.append(transformers.TopPLogitsWarper(params.top_p))
            kwargs["do_sample"] = True
        if params.stop and schema is None:
            # Not with a schema: a row stopped early would feed the grammar a padding token.
            kwargs.update(stop_strings=list(params.stop), tokenizer=self._tokenizer)
        kwargs["logits_processor"] = transformers.LogitsProcessorList(processors)
        return kwargs

    def _grammar_processor(self, schema: dict[str, Any], rows: int) -> Any:
        """xgrammar's HF logits processor, one matcher per row; compiled grammars are cached."""
        xgr = require("xgrammar", "local")
        import xgrammar.contrib.hf  # noqa: F401  (a submodule `import xgrammar` leaves out)

        key = json.dumps(schema)
        if key not in self._grammars:
            if self._compiler is None:
                info = xgr.TokenizerInfo.from_huggingface(
                    self._tokenizer, vocab_size=self._model.config.vocab_size)
                self._compiler = xgr.GrammarCompiler(info)
            # One-line JSON: free whitespace lets small models loop on newlines until max_tokens.
            self._grammars[key] = self._compiler.compile_json_schema(
                key, any_whitespace=False, separators=self.json_separators)
        return xgr.contrib.hf.LogitsProcessor([self._grammars[key]] * rows)

    def _repeat_guard_processor(self) -> Any:
        from kgx.llm.repeat_guard import RepeatGuard

        if self._guard is None:
            texts = self._tokenizer.batch_decode([[i] for i in range(len(self._tokenizer))])
            self._guard = (RepeatGuard(texts), texts)
        guard, texts = self._guard
        return guard.for_rows(texts)

    def _line_guard_processor(self, copy_from: list[str] | None,
                              budget: int | None = None) -> Any:
        from kgx.llm.line_guard import LineGuard

        if self._line_guard is None:
            tokenizer = self._tokenizer
            texts = tokenizer.batch_decode([[i] for i in range(len(tokenizer))])
            self._line_guard = LineGuard(
                texts, separator_ids=tokenizer.encode("---\n", add_special_tokens=False),
                eos_ids=_eos_ids(self._model),
                numbered_ends=self.student_format == "v2")
        return self._line_guard.for_rows(copy_from, budget)

    def _completion(self, row: list[int], prompt_tokens: int, params: SamplingParams,
                    logprobs: list[float] | None = None) -> Completion:
        """The text before EOS or the first stop string; counts tokens up to and including EOS;
        with `logprobs` (one per generated token), each reply token's text and log-prob."""
        tokenizer = self._tokenizer
        ends = set(_eos_ids(self._model)) | {tokenizer.pad_token_id}
        end = next((i for i, token in enumerate(row) if token in ends), len(row))
        text = tokenizer.decode(row[:end], skip_special_tokens=True)
        pairs = None if logprobs is None else tuple(
            (tokenizer.decode([token]), logprob)
            for token, logprob in zip(row[:end], logprobs[:end], strict=True))
        cut = min((text.find(s) for s in params.stop if s in text), default=-1)
        if cut >= 0:  # generation halted on the stop string; what follows is padding
            return Completion(text[:cut], prompt_tokens, end, "stop", pairs)
        if end < len(row):
            return Completion(text, prompt_tokens, end + 1, "stop", pairs)
        return Completion(text, prompt_tokens, end, "length", pairs)

    # -- scoring --------------------------------------------------------------------------

    def score(self, requests: Sequence[ScoreRequest]) -> list[ScoredText]:
        """Log-probs of each continuation's tokens, from batched forward passes."""
        results: list[ScoredText] = []
        with self._lock:
            self._ensure_loaded()
            for start in range(0, len(requests), self.batch_size):
                results.extend(self._score_batch(requests[start:start + self.batch_size]))
        return results

    def _score_batch(self, batch: Sequence[ScoreRequest]) -> list[ScoredText]:
        torch = require("torch", "local")
        rows = [self._score_tokens(request) for request in batch]
        width = max(len(ids) for ids, _, _ in rows)
        pad = self._tokenizer.pad_token_id
        input_ids = torch.tensor([ids + [pad] * (width - len(ids)) for ids, _, _ in rows])
        mask = torch.tensor([[1] * len(ids) + [0] * (width - len(ids)) for ids, _, _ in rows])
        device = self._model.device
        with torch.inference_mode():
            logits = self._model(input_ids=input_ids.to(device),
                                 attention_mask=mask.to(device)).logits
            results = []
            for row, (ids, first, pieces) in enumerate(rows):
                # Position p's logits predict token p + 1.
                logprobs = torch.log_softmax(logits[row, first - 1:len(ids) - 1].float(), dim=-1)
                targets = torch.tensor(ids[first:], dtype=torch.long, device=device)
                chosen = logprobs.gather(1, targets[:, None])
                results.append(ScoredText(tuple(pieces), tuple(chosen.squeeze(1).tolist())))
        return results

    def _score_tokens(self, request: ScoreRequest) -> tuple[list[int], int, list[str]]:
        """(token ids with any BOS, index of the first continuation token, continuation pieces)."""
        text = request.prompt + request.continuation
        ids, ends = _tokens_with_ends(self._tokenizer, text)
        bos = self._bos()
        limit = getattr(self._model.config, "max_position_embeddings", None)
        if limit and len(ids) + len(bos) > limit:
            raise LLMError(f"{self.name}: a scored text has {len(ids)} tokens, more than the "
                           f"model's {limit}; score shorter texts.")
        # A token straddling the prompt/continuation boundary belongs to the continuation.
        first = next((i for i, end in enumerate(ends) if end > len(request.prompt)), len(ids))
        first = max(first, 0 if bos else 1)  # without BOS the first token has no probability
        starts = [0, *ends[:-1]]
        pieces = [text[starts[i]:ends[i]] for i in range(first, len(ids))]
        return bos + ids, first + len(bos), pieces

    # -- next tokens ----------------------------------------------------------------------

    def next_tokens(self, prefixes: Sequence[str], k: int) -> list[list[tuple[str, float]]]:
        """The k likeliest next tokens of each prefix, from batched forward passes."""
        results: list[list[tuple[str, float]]] = []
        with self._lock:
            self._ensure_loaded()
            for start in range(0, len(prefixes), self.batch_size):
                results.extend(self._next_tokens_batch(prefixes[start:start + self.batch_size], k))
        return results

    def _next_tokens_batch(self, batch: Sequence[str], k: int) -> list[list[tuple[str, float]]]:
        torch = require("torch", "local")
        bos = self._bos()
        rows = [self._prefix_ids(bos, prefix) for prefix in batch]
        width = max(len(ids) for ids in rows)
        pad = self._tokenizer.pad_token_id
        # Left padding puts every prefix's last token in the last column.
        input_ids = torch.tensor([[pad] * (width - len(ids)) + ids for ids in rows])
        mask = torch.tensor([[0] * (width - len(ids)) + [1] * len(ids) for ids in rows])
        positions = (mask.cumsum(dim=1) - 1).clamp(min=0)
        device = self._model.device
        with torch.inference_mode():
            logits = self._model(input_ids=input_ids.to(device), attention_mask=mask.to(device),
                                 position_ids=positions.to(device)).logits[:, -1]
            top = torch.log_softmax(logits.float(), dim=-1).topk(min(k, logits.shape[-1]))
        return [list(zip(_added_texts(self._tokenizer, ids, candidates), values, strict=True))
                for ids, candidates, values in zip(rows, top.indices.tolist(),
                                                   top.values.tolist(), strict=True)]

    def _prefix_ids(self, bos: list[int], prefix: str) -> list[int]:
        """A prefix's token ids with any BOS; raises where the model cannot take them."""
        ids = bos + self._tokenizer(prefix, add_special_tokens=False)["input_ids"]
        if not ids:
            raise LLMError(f"{self.name}: this model adds no BOS token, so an empty prefix has "
                           "no next-token distribution; give a non-empty prefix.")
        limit = getattr(self._model.config, "max_position_embeddings", None)
        if limit and len(ids) > limit:
            raise LLMError(f"{self.name}: a prefix has {len(ids)} tokens, more than the model's "
                           f"{limit}; give shorter prefixes.")
        return ids

    def _bos(self) -> list[int]:
        """[BOS] if the tokenizer prepends it to a text, else []."""
        bos = self._tokenizer.bos_token_id
        with_special = self._tokenizer("a", add_special_tokens=True)["input_ids"]
        return [bos] if bos is not None and with_special[:1] == [bos] else []

    # -- the rest -------------------------------------------------------------------------

    def count_tokens(self, text: str) -> int:
        """Exact, with the model's tokenizer (loads the model)."""
        with self._lock:
            self._ensure_loaded()
            return len(self._tokenizer(text, add_special_tokens=False)["input_ids"])

    def count_prompt_tokens(self, request: LLMRequest) -> int:
        """Exact: the messages rendered by the chat template, as `complete` sends them."""
        with self._lock:
            self._ensure_loaded()
            prompt = self._tokenizer.apply_chat_template(
                [m.model_dump() for m in request.messages], add_generation_prompt=True,
                tokenize=False)
            return len(self._tokenizer(prompt, add_special_tokens=False)["input_ids"])

    def close(self) -> None:
        """Drop the model, tokenizer and compiled grammars."""
        with self._lock:
            self._model = self._tokenizer = self._compiler = None
            self._grammars.clear()


def _adapter_fingerprint(adapter: Path) -> str:
    """The adapter folder's name and a hash of its weights, for names and cache keys."""
    import hashlib

    weights = adapter / "adapter_model.safetensors"
    if not weights.is_file():
        raise ConfigError(f"No LoRA adapter at {adapter} (adapter_model.safetensors is missing); "
                          f"give the --out folder of `kgx distill train`.")
    return f"{adapter.name}-{hashlib.sha256(weights.read_bytes()).hexdigest()[:12]}"


def _merge_adapter(model: Any, adapter: Path) -> Any:
    """The model with the PEFT LoRA adapter merged in: no adapter overhead when generating."""
    require("peft", "local")
    from peft import PeftModel

    if getattr(model, "hf_quantizer", None) is not None:  # GGUF weights are dequantized
        model.hf_quantizer = None
        model.is_quantized = False
        model.config.__dict__.pop("quantization_config", None)
    return PeftModel.from_pretrained(model, str(adapter)).merge_and_unload()


def _torch_dtype(torch: Any, dtype: str, device: str) -> Any:
    """`auto` is float32 on CPU (bfloat16 matmuls are slow there) and bfloat16 on a GPU."""
    if dtype == "auto":
        return torch.float32 if device == "cpu" else torch.bfloat16
    resolved = getattr(torch, dtype, None)
    if not isinstance(resolved, torch.dtype):
        raise ConfigError(f"Unknown dtype {dtype!r}; use auto, float32, bfloat16 or float16.")
    return resolved


def _schema_key(request: LLMRequest) -> str:
    schema = request.json_schema()
    return "" if schema is None else json.dumps(schema)


class _ChosenLogprobs:
    """A logits processor that keeps, for each row, the log-prob of the token chosen at each
    step, from the scores it is given (put first, the model's own). It holds one step's
    log-softmax at a time, not every step's logits."""

    def __init__(self) -> None:
        self.last: Any = None
        self.steps: list[Any] = []

    def __call__(self, input_ids: Any, scores: Any) -> Any:
        if self.last is not None:  # the token chosen from the previous step's scores
            self.steps.append(self.last.gather(-1, input_ids[:, -1:]).squeeze(-1))
        self.last = scores.float().log_softmax(-1)
        return scores

    def finish(self, sequences: Any) -> list[list[float]]:
        """Each row's log-probs, one per generated token (the last one read off `sequences`)."""
        import torch

        if self.last is not None:
            self.steps.append(self.last.gather(-1, sequences[:, -1:]).squeeze(-1))
            self.last = None
        if not self.steps:
            return [[] for _ in range(sequences.shape[0])]
        return torch.stack(self.steps, dim=1).tolist()


def _eos_ids(model: Any) -> list[int]:
    """The token ids that end generation (the generation config may list several)."""
    eos = model.generation_config.eos_token_id
    return [] if eos is None else [eos] if isinstance(eos, int) else list(eos)


def _added_texts(tokenizer: Any, ids: list[int], candidates: list[int]) -> list[str]:
    """The text each candidate token adds after `ids` (" Paris", its leading space kept).

    Decoding a token alone loses that space with SentencePiece tokenizers, so each candidate is
    decoded after the last few prefix tokens and the prefix's own text is cut off.
    """
    tail = ids[-4:]
    base = tokenizer.decode(tail, clean_up_tokenization_spaces=False)
    texts = tokenizer.batch_decode([[*tail, c] for c in candidates],
                                   clean_up_tokenization_spaces=False)
    return [text[len(base):] if text.startswith(base)
            else tokenizer.decode([c], clean_up_tokenization_spaces=False)
            for c, text in zip(candidates, texts, strict=True)]


def _tokens_with_ends(tokenizer: Any, text: str) -> tuple[list[int], list[int]]:
    """Token ids of `text` (no special tokens) and the character offset where each ends."""
    if tokenizer.is_fast:
        encoded = tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)
        return encoded["input_ids"], [end for _, end in encoded["offset_mapping"]]
    # Slow tokenizers have no offsets: decode growing prefixes instead.
    ids = tokenizer(text, add_special_tokens=False)["input_ids"]
    ends = [len(tokenizer.decode(ids[:i + 1], clean_up_tokenization_spaces=False))
            for i in range(len(ids))]
    return ids, ends
