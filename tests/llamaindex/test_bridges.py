"""Bridges: LlamaIndex LLM -> core ChatModel; LlamaIndex BaseEmbedding <-> core Embedder."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pytest
from llama_index.core.base.llms.types import (
    ChatMessage,
    ChatResponse,
    CompletionResponse,
    LLMMetadata,
)
from llama_index.core.embeddings import MockEmbedding
from llama_index.core.llms import CustomLLM
from llama_index.core.llms.mock import MockLLM
from llama_index.memory.agentmem import (
    AgentMemEmbedding,
    AgentMemMemoryBlock,
    LlamaIndexChatModel,
    LlamaIndexEmbedder,
)
from llama_index.memory.agentmem._llm import classify_error

from agentmem_plugins import (
    LLMError,
    LLMRequestError,
    LLMTransientError,
)
from agentmem_plugins import (
    Memory as CoreMemory,
)
from agentmem_plugins.embeddings import HashEmbedder
from agentmem_plugins.testing import rules


class RulesLLM(CustomLLM):
    """A LlamaIndex LLM answering the core's prompts with the project's rule-based model."""

    calls: int = 0

    @property
    def metadata(self) -> LLMMetadata:
        return LLMMetadata(model_name="rules", is_chat_model=True)

    def complete(self, prompt: str, formatted: bool = False, **kwargs: Any) -> CompletionResponse:
        raise NotImplementedError

    def stream_complete(self, prompt: str, formatted: bool = False, **kwargs: Any) -> Any:
        raise NotImplementedError

    def chat(self, messages: Sequence[ChatMessage], **kwargs: Any) -> ChatResponse:
        self.calls += 1
        plain = [{"role": m.role.value, "content": m.content or ""} for m in messages]
        return ChatResponse(message=ChatMessage(role="assistant", content=rules.answer(plain)))

    async def achat(self, messages: Sequence[ChatMessage], **kwargs: Any) -> ChatResponse:
        return self.chat(messages, **kwargs)


class RecordingLLM:
    """Just enough of a LlamaIndex LLM: records ``achat`` kwargs, or raises ``error``."""

    def __init__(self, error: Exception | None = None) -> None:
        self.error = error
        self.kwargs: list[dict[str, Any]] = []

    async def achat(self, messages: Sequence[ChatMessage], **kwargs: Any) -> ChatResponse:
        self.kwargs.append(kwargs)
        if self.error is not None:
            raise self.error
        return ChatResponse(message=ChatMessage(role="assistant", content='{"ok": true}'))


class HTTPError(Exception):
    def __init__(self, status_code: int) -> None:
        super().__init__(f"HTTP {status_code}")
        self.status_code = status_code


class RateLimitError(Exception):  # named like openai's
    pass


@pytest.mark.parametrize(
    ("error", "kind"),
    [
        (TimeoutError("slow"), LLMTransientError),
        (ConnectionError("down"), LLMTransientError),
        (HTTPError(429), LLMTransientError),
        (HTTPError(503), LLMTransientError),
        (RateLimitError("slow down"), LLMTransientError),
        (HTTPError(400), LLMRequestError),
        (HTTPError(401), LLMRequestError),
        (ValueError("weird"), LLMError),
    ],
)
async def test_llm_errors_map_to_the_core_tree(error, kind):
    model = LlamaIndexChatModel(RecordingLLM(error))
    with pytest.raises(kind) as info:
        await model.complete([{"role": "user", "content": "hi"}])
    assert type(info.value) is kind and info.value.__cause__ is error
    assert classify_error(info.value) is info.value


async def test_chat_model_calls_achat_and_forwards_json_mode_kwargs():
    llm = RecordingLLM()
    model = LlamaIndexChatModel(llm, json_mode_kwargs={"response_format": {"type": "json_object"}})
    assert (
        await model.complete([{"role": "user", "content": "x"}], json_mode=True) == '{"ok": true}'
    )
    await model.complete([{"role": "user", "content": "x"}])
    assert llm.kwargs == [{"response_format": {"type": "json_object"}}, {}]
    echo = LlamaIndexChatModel(MockLLM())
    reply = await echo.complete(
        [{"role": "system", "content": "S"}, {"role": "user", "content": "U"}]
    )
    assert "U" in reply
    assert "MockLLM" in echo.name
    with pytest.raises(TypeError, match="LlamaIndex LLM"):
        LlamaIndexChatModel(object())


async def test_intelligent_mode_through_a_llamaindex_llm(tmp_path):
    llm = RulesLLM()
    with CoreMemory(path=tmp_path / "m", embedder="hash", llm=LlamaIndexChatModel(llm)) as core:
        block = AgentMemMemoryBlock(memory=core, user_id="ada")
        await block.aput([ChatMessage(role="user", content="I live in Paris.")], session_id="s1")
        assert [i.text for i in core.get_all(user_id="ada")] == ["Lives in Paris"]
        await block.aput([ChatMessage(role="user", content="I live in Berlin.")], session_id="s2")
        shown = [b.text for b in await block.aget([ChatMessage(role="user", content="where?")])]
        assert shown == ["- Lives in Berlin"]  # Paris was invalidated, not shown
        assert llm.calls == 2  # one call per message: facts and decisions at once
        verbatim = AgentMemMemoryBlock(memory=core, user_id="bob", infer=False)
        await verbatim.aput([ChatMessage(role="user", content="I live in Rome.")])
        assert [i.text for i in core.get_all(user_id="bob")] == ["I live in Rome."]


class CountingEmbedder:
    """The hash embedder, counting batch calls."""

    def __init__(self) -> None:
        self._inner = HashEmbedder(dim=64)
        self.batches: list[int] = []

    name = property(lambda self: self._inner.name)
    dim = property(lambda self: self._inner.dim)

    def embed_documents(self, texts: Sequence[str]) -> np.ndarray:
        self.batches.append(len(texts))
        return self._inner.embed_documents(texts)

    def embed_query(self, text: str) -> np.ndarray:
        return self._inner.embed_query(text)


async def test_core_embedder_as_llamaindex_embedding_is_batched():
    counting = CountingEmbedder()
    embed = AgentMemEmbedding(counting, embed_batch_size=2)
    texts = [f"text number {i}" for i in range(5)]
    vectors = embed.get_text_embedding_batch(texts)
    assert counting.batches == [2, 2, 1]
    assert np.allclose(vectors, counting._inner.embed_documents(texts), atol=1e-6)
    assert np.allclose(await embed.aget_text_embedding_batch(texts), vectors, atol=1e-6)
    assert np.allclose(
        await embed.aget_query_embedding("q"), counting._inner.embed_query("q"), atol=1e-6
    )
    assert embed.model_name == counting.name
    assert len(AgentMemEmbedding("hash:32").get_query_embedding("x")) == 32
    with pytest.raises(ValueError, match="real embedder"):
        AgentMemEmbedding("none")


async def test_llamaindex_embedding_as_core_embedder(tmp_path):
    source = AgentMemEmbedding(CountingEmbedder(), embed_batch_size=3)
    embedder = LlamaIndexEmbedder(source)
    assert (
        embedder.dim == 64 and embedder.name == "llama_index:AgentMemEmbedding:" + source.model_name
    )
    matrix = embedder.embed_documents(["a b", "c d", "e f", "g h"])
    assert matrix.shape == (4, 64) and matrix.dtype == np.float32
    assert np.allclose(np.linalg.norm(matrix, axis=1), 1.0, atol=1e-5)
    assert source.embedder.batches == [3, 1]
    assert not hasattr(embedder, "aembed_documents")
    assert hasattr(LlamaIndexEmbedder(source, use_async=True), "aembed_documents")

    unnormalised = LlamaIndexEmbedder(MockEmbedding(embed_dim=8), name="mock-8")
    assert unnormalised.dim == 8
    assert np.allclose(np.linalg.norm(unnormalised.embed_query("x")), 1.0)

    for use_async in (False, True):
        path = tmp_path / f"core-{use_async}"
        bridged = LlamaIndexEmbedder(source, use_async=use_async)
        with CoreMemory(path=path, embedder=bridged) as core:
            core.add_many([{"text": t, "user_id": "u"} for t in ["green tea", "black coffee"]])
            assert core.search("tea", user_id="u", limit=1)[0].text == "green tea"
    with pytest.raises(TypeError, match="BaseEmbedding"):
        LlamaIndexEmbedder(object())  # type: ignore[arg-type]
