"""Every built-in extractor and retriever through the shared contracts of kgx.testing.

The LLM extractors run on a fake backend whose replies follow their prompts' schemas (the real
models are exercised by tests/test_llm_extraction_e2e.py); spaCy and every retriever run for
real, the retrievers over an embedded store.
"""

from __future__ import annotations

import pytest

from kgx.extractors import get_extractor
from kgx.llm.managed import ManagedLLM
from kgx.retrieval import RETRIEVERS, make_retriever
from kgx.testing.extractor_contract import ExtractorContract, fact_replies
from kgx.testing.fake_llm import FakeLLM
from kgx.testing.retriever_contract import RetrieverContract, contract_store, cypher_replies


def _fake_llm(reply) -> ManagedLLM:
    return ManagedLLM(FakeLLM([reply] * 100))


class TestSpacyExtractorContract(ExtractorContract):
    @pytest.fixture(scope="class")
    @classmethod
    def extractor(cls):
        pytest.importorskip("spacy")
        return get_extractor("spacy")


@pytest.fixture(scope="class", params=["synthkg", "direct", "propositions", "student"])
def llm_extractor(request):
    return get_extractor(request.param, llm=_fake_llm(fact_replies))


class TestLLMExtractorContract(ExtractorContract):
    @pytest.fixture(scope="class")
    @classmethod
    def extractor(cls, llm_extractor):
        return llm_extractor


@pytest.fixture(scope="class", params=RETRIEVERS)
def built_retriever(request, tmp_path_factory):
    llm = _fake_llm(cypher_replies) if request.param == "text2cypher" else None
    with contract_store(tmp_path_factory.mktemp("contract")) as store:
        yield make_retriever(request.param, store, llm=llm)


class TestRetrieverContract(RetrieverContract):
    @pytest.fixture(scope="class")
    @classmethod
    def retriever(cls, built_retriever):
        return built_retriever
