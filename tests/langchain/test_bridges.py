"""Embedding and chat-model bridges between LangChain and the core protocols."""

from __future__ import annotations

from typing import Any

import httpx
import numpy as np
import pytest
from langchain_agentmem import AgentMemEmbeddings, LangChainChatModel, LangChainEmbedder
from langchain_agentmem.embeddings import to_core_embedder
from langchain_core.embeddings import DeterministicFakeEmbedding, Embeddings
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, SystemMessage
from langchain_core.outputs import ChatGeneration, ChatResult
from pydantic import BaseModel

from agentmem_plugins import (
    EmbedderMismatchError,
    LLMError,
    LLMRequestError,
    LLMTransientError,
    Memory,
)
from agentmem_plugins.embeddings import Embedder, HashEmbedder
from agentmem_plugins.llms import ChatModel, call_json

from .fakes import ScriptedChatModel

# --- embeddings --------------------------------------------------------------------------------


class CountingEmbeddings(Embeddings):
    def __init__(self, size: int = 8) -> None:
        self.model = f"counting-{size}"
        self.inner = DeterministicFakeEmbedding(size=size)
        self.batches: list[int] = []
        self.queries = 0

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        self.batches.append(len(texts))
        return self.inner.embed_documents(texts)

    def embed_query(self, text: str) -> list[float]:
        self.queries += 1
        return self.inner.embed_query(text)


def test_langchain_embedder_is_a_core_embedder():
    lc = CountingEmbeddings(size=8)
    embedder = LangChainEmbedder(lc, batch_size=3)
    assert isinstance(embedder, Embedder)
    assert embedder.name == f"langchain:{__name__}.CountingEmbeddings:counting-8"
    assert embedder.dim == 8 and embedder.dim == 8 and lc.queries == 1  # probed once
    matrix = embedder.embed_documents([f"text {i}" for i in range(7)])
    assert matrix.shape == (7, 8) and matrix.dtype == np.float32
    assert lc.batches == [3, 3, 1]
    assert np.allclose(np.linalg.norm(matrix, axis=1), 1.0)
    assert embedder.embed_documents([]).shape == (0, 8)
    query = embedder.embed_query("text 0")
    assert np.allclose(query, matrix[0], atol=1e-6)


async def test_langchain_embedder_async():
    embedder = LangChainEmbedder(CountingEmbeddings(size=8), dim=8, batch_size=2)
    matrix = await embedder.aembed_documents(["a", "b", "c"])
    assert matrix.shape == (3, 8)
    assert np.allclose(await embedder.aembed_query("a"), matrix[0], atol=1e-6)


def test_memory_on_langchain_embeddings_checks_its_space(tmp_path):
    with Memory(path=tmp_path / "m", embedder=LangChainEmbedder(CountingEmbeddings(8))) as m:
        m.add("green tea", user_id="u")
        assert m.search("green tea", user_id="u")[0].score == pytest.approx(1.0, abs=1e-5)
    with pytest.raises(EmbedderMismatchError):
        Memory(path=tmp_path / "m", embedder=LangChainEmbedder(DeterministicFakeEmbedding(size=8)))


def test_agentmem_embeddings_is_langchain_embeddings():
    embeddings = AgentMemEmbeddings("hash:64")
    assert isinstance(embeddings, Embeddings) and embeddings.dim == 64
    docs = embeddings.embed_documents(["green tea", "red car"])
    assert len(docs) == 2 and len(docs[0]) == 64 and isinstance(docs[0][0], float)
    assert embeddings.embed_query("green tea") == pytest.approx(docs[0], abs=1e-6)
    assert embeddings.embed_documents([]) == []
    core = HashEmbedder(32)
    assert AgentMemEmbeddings(core).embedder is core


async def test_agentmem_embeddings_async():
    embeddings = AgentMemEmbeddings("hash:64")
    assert (await embeddings.aembed_documents(["x"]))[0] == pytest.approx(
        await embeddings.aembed_query("x"), abs=1e-6
    )


def test_bridge_errors_and_unwrapping():
    with pytest.raises(TypeError, match="Embeddings"):
        LangChainEmbedder("hash")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="dim"):
        LangChainEmbedder(CountingEmbeddings(), dim=0)
    with pytest.raises(ValueError, match="none"):
        AgentMemEmbeddings("none")
    with pytest.raises(TypeError, match="Embedder"):
        AgentMemEmbeddings(42)  # type: ignore[arg-type]
    core = HashEmbedder(16)
    assert to_core_embedder(AgentMemEmbeddings(core)) is core  # no double bridge
    assert isinstance(to_core_embedder(CountingEmbeddings()), LangChainEmbedder)
    assert to_core_embedder("hash") == "hash"
    with pytest.raises(TypeError):
        to_core_embedder(3.5)


# --- chat models -----------------------------------------------------------------------------


class Answer(BaseModel):
    facts: list[str]


class Failing(BaseChatModel):
    errors: list[Any]
    calls: int = 0

    @property
    def _llm_type(self) -> str:
        return "failing"

    def _generate(self, messages, stop=None, run_manager=None, **kwargs) -> ChatResult:
        self.calls += 1
        if self.errors:
            raise self.errors.pop(0)
        return ChatResult(generations=[ChatGeneration(message=AIMessage('{"facts": ["ok"]}'))])


def http_error(status: int) -> httpx.HTTPStatusError:
    request = httpx.Request("POST", "https://llm.example/v1/chat")
    response = httpx.Response(status, request=request, headers={"retry-after": "0"})
    return httpx.HTTPStatusError(f"HTTP {status}", request=request, response=response)


async def test_chat_bridge_maps_messages_and_json_mode():
    model = ScriptedChatModel(steps=['{"facts": ["likes tea"]}', "plain"])
    llm = LangChainChatModel(model)
    assert isinstance(llm, ChatModel)
    text = await llm.complete(
        [
            {"role": "system", "content": "Extract facts."},
            {"role": "user", "content": "I like tea"},
        ],
        json_mode=True,
    )
    assert text == '{"facts": ["likes tea"]}'
    prompt = model.prompts[0]
    assert isinstance(prompt[0], SystemMessage) and prompt[0].content.startswith("Extract facts.")
    assert "JSON object" in prompt[0].content and len(prompt) == 2
    assert await llm.complete([{"role": "user", "content": "hi"}]) == "plain"
    assert len(model.prompts[1]) == 1  # no hint without json_mode


async def test_chat_bridge_json_bind_and_content_blocks():
    class Recording(BaseChatModel):
        seen: list[dict] = []

        @property
        def _llm_type(self) -> str:
            return "recording"

        def _generate(self, messages, stop=None, run_manager=None, **kwargs) -> ChatResult:
            self.seen.append(kwargs)
            blocks = [{"type": "text", "text": '{"facts": '}, {"type": "text", "text": "[]}"}]
            return ChatResult(generations=[ChatGeneration(message=AIMessage(content=blocks))])

    model = Recording()
    llm = LangChainChatModel(model, json_bind={"response_format": {"type": "json_object"}})
    assert await llm.complete([{"role": "user", "content": "x"}], json_mode=True) == '{"facts": []}'
    assert model.seen[-1] == {"response_format": {"type": "json_object"}}
    await llm.complete([{"role": "user", "content": "x"}])
    assert model.seen[-1] == {}


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (http_error(429), LLMTransientError),
        (http_error(503), LLMTransientError),
        (http_error(400), LLMRequestError),
        (TimeoutError("slow"), LLMTransientError),
        (ConnectionError("reset"), LLMTransientError),
        (RuntimeError("boom"), LLMError),
    ],
)
async def test_chat_bridge_maps_errors(error, expected):
    llm = LangChainChatModel(Failing(errors=[error]))
    with pytest.raises(expected) as info:
        await llm.complete([{"role": "user", "content": "x"}])
    assert type(info.value) is expected


async def test_core_retries_run_through_the_bridge():
    model = Failing(errors=[http_error(429), TimeoutError("slow")])
    answer = await call_json(
        LangChainChatModel(model),
        [{"role": "user", "content": "x"}],
        schema=Answer,
        base_wait_s=0.001,
        max_wait_s=0.01,
    )
    assert answer.facts == ["ok"] and model.calls == 3


async def test_chat_bridge_bad_input():
    with pytest.raises(TypeError, match="BaseChatModel"):
        LangChainChatModel("gpt-4o")  # type: ignore[arg-type]
    llm = LangChainChatModel(ScriptedChatModel(steps=["x"]))
    with pytest.raises(ValueError, match="role"):
        await llm.complete([{"role": "tool", "content": "x"}])
    with pytest.raises(TypeError, match="content"):
        await llm.complete([{"role": "user", "content": 3}])
