"""A tiny structured request every model can answer: the probe of `kgx llm check` and the tests."""

from __future__ import annotations

from pydantic import BaseModel

from kgx.llm.types import LLMRequest, SamplingParams


class City(BaseModel):
    """One city and its country."""

    name: str
    country: str


def city_request(country: str, max_tokens: int = 48) -> LLMRequest:
    """Ask for a city of `country` as a `City`."""
    return LLMRequest.from_prompt(f"Name one city in {country}. Answer in JSON.",
                                  response_model=City, key=country,
                                  params=SamplingParams(max_tokens=max_tokens))
