"""Bad input: a clear error from our hierarchy naming the field, and nothing stored."""

from __future__ import annotations

import pytest

from agentmem_plugins import (
    AgentMemError,
    AsyncMemory,
    ConfigError,
    InvalidInputError,
    Memory,
    MemoryConfig,
    ScopeError,
)


@pytest.fixture
async def store(amem: AsyncMemory) -> AsyncMemory:
    await amem.add("existing memory", user_id="u")
    return amem


async def assert_untouched(memory: AsyncMemory) -> None:
    items = await memory.get_all(all_scopes=True)
    assert [m.text for m in items] == ["existing memory"]


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"messages": ""}, InvalidInputError, "empty or whitespace"),
        ({"messages": "   \n\t"}, InvalidInputError, "empty or whitespace"),
        ({"messages": 42}, InvalidInputError, "messages must be a str"),
        ({"messages": [42]}, InvalidInputError, r"messages\[0\] must be a str"),
        ({"messages": []}, InvalidInputError, "messages is empty"),
        ({"messages": b"bytes"}, InvalidInputError, "messages must be a str"),
        ({"messages": [{"role": "user"}]}, InvalidInputError, r"messages\[0\]\.content"),
        ({"messages": [{"role": "user", "content": 5}]}, InvalidInputError, "content"),
        ({"messages": "x" * 40_000}, InvalidInputError, "over the limit of 32,000"),
        ({"messages": "nul\x00byte"}, InvalidInputError, "NUL character"),
        ({"messages": "lone \ud800 surrogate"}, InvalidInputError, "lone surrogate"),
        ({"messages": "ok", "user_id": None}, ScopeError, "no scope given"),
        ({"messages": "ok", "user_id": ""}, ScopeError, "user_id must be a non-empty str"),
        ({"messages": "ok", "user_id": 7}, ScopeError, "user_id must be a non-empty str"),
        ({"messages": "ok", "metadata": "x"}, InvalidInputError, "metadata must be a dict"),
        ({"messages": "ok", "metadata": {1: "x"}}, InvalidInputError, "keys must be non-empty"),
        ({"messages": "ok", "metadata": {"x": object()}}, InvalidInputError, "JSON-serialisable"),
        ({"messages": "ok", "metadata": {"x": float("nan")}}, InvalidInputError, "JSON"),
        ({"messages": "ok", "infer": True}, ConfigError, "infer=True needs an LLM"),
    ],
)
async def test_bad_add_input(store: AsyncMemory, kwargs, error, message) -> None:
    kwargs = dict(kwargs)  # the param dict is shared by the backend params: never mutate it
    kwargs.setdefault("user_id", "u")
    messages = kwargs.pop("messages")
    with pytest.raises(error, match=message):
        await store.add(messages, **kwargs)
    await assert_untouched(store)


@pytest.mark.parametrize(
    ("items", "message"),
    [
        ([{"text": "ok", "user_id": "u"}, {"text": "", "user_id": "u"}], r"items\[1\]\.text"),
        ([{"text": "ok"}], "no scope given"),
        ([{"text": "ok", "user_id": "u", "colour": "red"}], r"items\[0\]\.colour"),
        ([{"text": "ok", "user_id": "u", "vector": [1.0, 2.0]}], r"items\[0\]\.vector has 2"),
        (
            [{"text": "ok", "user_id": "u", "vector": ["a"]}],
            r"items\[0\]\.vector must be a sequence of numbers",
        ),
        (
            [{"text": "a", "user_id": "u", "id": "x"}, {"text": "b", "user_id": "u", "id": "x"}],
            "appears twice",
        ),
        (["just a string"], r"items\[0\] must be a dict"),
        ([{"text": "ok", "user_id": "u", "vector": [[1.0, 2.0]]}], "flat sequence"),
        ([{"text": "ok", "user_id": "u", "vector": [float("nan")] * 256}], "NaN or infinity"),
        ([{"text": "ok", "user_id": "u", "vector": "0.1 0.2"}], "sequence of numbers"),
    ],
)
async def test_bad_batches_are_rejected_whole(store: AsyncMemory, items, message) -> None:
    with pytest.raises(InvalidInputError, match=message):
        await store.add_many(items)
    await assert_untouched(store)


async def test_an_id_of_another_scope_is_refused(store: AsyncMemory) -> None:
    await store.add_many([{"id": "shared", "text": "mine", "user_id": "alice"}])
    with pytest.raises(InvalidInputError, match="another scope"):
        await store.add_many([{"id": "shared", "text": "hijack", "user_id": "mallory"}])
    assert (await store.get("shared")).text == "mine"


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"limit": 0}, "limit must be an int >= 1"),
        ({"limit": "10"}, "limit must be an int"),
        ({"limit": 10**6}, "at most 10,000"),
        ({"mode": "semantic"}, "mode must be one of"),
        ({"threshold": "high"}, "threshold must be a number"),
        ({"query": None}, "needs a query string"),
        ({"query": ""}, "query is empty"),
        ({"vector": [1.0, 2.0]}, "vector has 2 dimensions"),
    ],
)
async def test_bad_search_input(store: AsyncMemory, kwargs, message) -> None:
    kwargs = dict(kwargs)  # the param dict is shared by the backend params: never mutate it
    kwargs.setdefault("query", "memory")
    with pytest.raises(InvalidInputError, match=message):
        await store.search(kwargs.pop("query"), user_id="u", **kwargs)


async def test_bad_update_and_ids(store: AsyncMemory) -> None:
    memory_id = (await store.get_all(user_id="u"))[0].id
    with pytest.raises(InvalidInputError, match="update needs"):
        await store.update(memory_id)
    with pytest.raises(InvalidInputError, match="empty or whitespace"):
        await store.update(memory_id, text=" ")
    with pytest.raises(InvalidInputError, match="memory_id must be a str"):
        await store.get(123)  # type: ignore[arg-type]
    await assert_untouched(store)


def test_bad_config_names_the_field(tmp_path) -> None:
    with pytest.raises(ConfigError, match="batch_max_size"):
        Memory(path=tmp_path, embedder="hash", batch_max_size=0)
    with pytest.raises(ConfigError, match="no_such_option"):
        MemoryConfig.build(no_such_option=1)
    with pytest.raises(ConfigError, match="embedder"):
        Memory(path=tmp_path, embedder="word2vec:whatever")


def test_every_error_shares_one_base() -> None:
    assert issubclass(ScopeError, AgentMemError) and issubclass(ScopeError, ValueError)
