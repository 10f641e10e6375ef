"""Reading structured replies: lenient JSON parsing, schema validation, and the repair turn.

Small local models wrap JSON in code fences, add prose around it, or stop mid-object. kgx
parses what can be parsed honestly (fences and surrounding prose are dropped; nothing is
invented), validates against the schema, and otherwise asks once more with the error shown.
"""

from __future__ import annotations

import json
import re
from typing import Any

from pydantic import BaseModel, ValidationError

from kgx.llm.types import LLMRequest, Message

_FENCE = re.compile(r"```(?:json)?\s*(.*?)\s*```", re.DOTALL)
MAX_ERROR_CHARS = 400


def parse_reply(text: str, response_model: type[BaseModel]) -> tuple[BaseModel | None, str | None]:
    """The validated object, or None and a short description of what is wrong."""
    if not text.strip():
        return None, "the reply was empty"
    try:
        data = _load_json(text)
    except ValueError as e:
        return None, f"the reply is not valid JSON ({e})"
    try:
        return response_model.model_validate(data), None
    except ValidationError as e:
        return None, _short(f"the JSON does not follow the schema: {_errors(e)}")


def _load_json(text: str) -> Any:
    """JSON from the reply, its fenced block, or its outermost {...} span."""
    candidates = [text.strip()]
    fenced = _FENCE.search(text)
    if fenced:
        candidates.append(fenced.group(1))
    start, end = text.find("{"), text.rfind("}")
    if 0 <= start < end:
        candidates.append(text[start:end + 1])
    error: json.JSONDecodeError | None = None
    for candidate in candidates:
        try:
            return json.loads(candidate)
        except json.JSONDecodeError as e:
            error = error or e
    assert error is not None
    raise ValueError(f"{error.msg} at line {error.lineno} column {error.colno}")


def _errors(error: ValidationError) -> str:
    parts = [f"{'.'.join(map(str, item['loc'])) or '(root)'}: {item['msg']}"
             for item in error.errors()[:5]]
    return "; ".join(parts)


def _short(text: str) -> str:
    return text if len(text) <= MAX_ERROR_CHARS else text[:MAX_ERROR_CHARS - 1] + "…"


def repair_request(request: LLMRequest, reply: str, problem: str) -> LLMRequest:
    """The original conversation, the bad reply, and a turn asking for a corrected one."""
    schema = json.dumps(request.json_schema(), separators=(",", ":"))
    ask = (f"That reply cannot be used: {problem}. Answer again with only one JSON object "
           f"that follows this JSON schema, and nothing else.\nSchema: {schema}")
    messages = (*request.messages, Message(role="assistant", content=reply or "(empty)"),
                Message(role="user", content=ask))
    return request.model_copy(update={"messages": messages})
