"""SQuAD-style text normalisation and token overlap: they live in `kgx.normalization`, below
retrieval, which checks that LLM answers are grounded; this name is kept for the metrics."""

from kgx.normalization import normalize_text, token_containment, token_f1, tokens

__all__ = ["normalize_text", "token_containment", "token_f1", "tokens"]
