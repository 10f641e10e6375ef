"""Evaluation of graphs and propositions: SynthKG KG metrics, APS metrics, MINE, agreement.

    from kgx.evaluation import score_triples, count_matches, make_scorer
    score_triples(gold, extracted).coverage            # SynthKG metrics (MiniLM cosine)
    count_matches(["The Beatles"], ["beatles"], "normalized")
    make_scorer("lexical").score("Ada wrote code.", "Ada wrote code")

Modules: `kg_metrics` and `multihop` (SynthKG on 2Wiki), `aps` with `entailment` and
`llm_judge` (proposition segmentation), `mine` (fact recall), `matching` and `teacher`
(agreement with a teacher), `reports` (JSON, markdown and PNG files). The embedding model
loads on first use; importing this package loads nothing heavy.
"""

from __future__ import annotations

from kgx.lazy import lazy_exports

_LAZY = {
    "SentenceEncoder": "embeddings", "shared_encoder": "embeddings", "triple_text": "embeddings",
    "normalize_text": "normalization", "token_f1": "normalization",
    "KGScores": "kg_metrics", "score_triples": "kg_metrics", "match_triples": "kg_metrics",
    "summarize": "kg_metrics", "COVERAGE_THRESHOLDS": "kg_metrics",
    "MultihopQuestion": "multihop", "MultihopReport": "multihop",
    "load_multihop_questions": "multihop", "evaluate_multihop": "multihop",
    "EntailmentScorer": "entailment", "LexicalEntailment": "entailment",
    "EmbeddingEntailment": "entailment", "make_scorer": "entailment",
    "LLMJudge": "llm_judge",
    "SegmentedSentence": "aps", "APSReport": "aps", "load_predicted_propositions": "aps",
    "load_reference_propositions": "aps", "evaluate_propositions": "aps",
    "reference_free": "aps", "reference_based": "aps",
    "Essay": "mine", "MineReport": "mine", "load_mine_essays": "mine",
    "write_essays_jsonl": "mine", "evaluate_mine": "mine",
    "PRF": "matching", "MATCH_MODES": "matching", "count_matches": "matching",
    "count_triple_matches": "matching", "greedy_one_to_one": "matching",
    "micro_prf": "matching",
    "AgreementDocument": "teacher", "AgreementReport": "teacher", "load_teacher": "teacher",
    "load_predicted_documents": "teacher", "documents_from_store": "teacher",
    "pair_documents": "teacher", "agreement": "teacher",
    "write_report": "reports",
    "QAQuestion": "qa", "QAReport": "qa", "load_qa_questions": "qa",
    "evaluate_retrievers": "qa", "qa_markdown": "qa",
}

__all__ = sorted(_LAZY)


__getattr__ = lazy_exports("kgx.evaluation", _LAZY)
