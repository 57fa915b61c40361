"""Agent tools over a core memory: save, search and forget, bound to one scope.

The model picks what to remember and when; the scope (``user_id``/``agent_id``/
``run_id``) is fixed by your code when the tools are made, so a model can never read or
change another user's memories.
"""

from __future__ import annotations

import json
from typing import Any

from langchain_core.tools import BaseTool, StructuredTool, ToolException
from pydantic import BaseModel, ConfigDict, Field

from agentmem_plugins import AsyncMemory, Memory, NotFoundError, SearchMode
from agentmem_plugins.loop_bridge import CoreRunner, as_runner

from ._documents import make_scope

__all__ = ["ForgetMemoryInput", "SaveMemoryInput", "SearchMemoryInput", "create_memory_tools"]


class SaveMemoryInput(BaseModel):
    """Arguments of ``save_memory``."""

    model_config = ConfigDict(extra="forbid")

    text: str = Field(
        min_length=1,
        description="One self-contained fact to remember, e.g. 'The user is allergic to "
        "peanuts'. Write it so it makes sense without the conversation.",
    )


class SearchMemoryInput(BaseModel):
    """Arguments of ``search_memory``."""

    model_config = ConfigDict(extra="forbid")

    query: str = Field(min_length=1, description="What to look for, in plain words.")
    limit: int = Field(5, ge=1, le=50, description="How many memories to return at most.")


class ForgetMemoryInput(BaseModel):
    """Arguments of ``forget_memory``."""

    model_config = ConfigDict(extra="forbid")

    memory_id: str = Field(
        min_length=1, description="The id of the memory to forget, as search_memory gave it."
    )


def create_memory_tools(
    memory: AsyncMemory | Memory,
    *,
    user_id: str | None = None,
    agent_id: str | None = None,
    run_id: str | None = None,
    infer: bool | None = False,
    search_mode: SearchMode = "vector",
    prefix: str = "",
) -> list[BaseTool]:
    """``[save_memory, search_memory, forget_memory]`` tools bound to one scope.

    Example::

        from langchain.agents import create_agent

        tools = create_memory_tools(memory, user_id="alice")
        agent = create_agent(model, tools=tools)

    ``infer`` is handed to the core's ``add``: ``False`` (default) stores the fact the
    model wrote as given; ``None`` lets the core's LLM extract and reconcile facts when
    one is configured. ``prefix`` namespaces the tool names (``prefix="user_"`` ->
    ``user_save_memory``) when an agent holds several sets. Tools take sync or async
    calls; errors the model can fix (unknown id, bad arguments) come back to it as the
    tool's answer.
    """
    if not any(v is not None for v in (user_id, agent_id, run_id)):
        raise ValueError("create_memory_tools needs a scope: user_id=, agent_id= and/or run_id=")
    scope = make_scope(user_id, agent_id, run_id, {})
    runner: CoreRunner = as_runner(memory)

    async def save(m: AsyncMemory, text: str) -> str:
        result = await m.add(text, **scope, infer=infer)
        if result.pending_id is not None and not result.results:
            return f"Noted; the memory is being processed (pending id {result.pending_id})."
        changes = [e for e in result.results if e.event != "NONE"]
        if not changes:
            return "Nothing new to remember: that is already known."
        return "\n".join(f"{e.event.lower()} memory {e.id}: {e.text}" for e in changes)

    async def search(m: AsyncMemory, query: str, limit: int) -> str:
        hits = await m.search(query, **scope, limit=limit, mode=search_mode)
        found = [{"id": h.id, "text": h.text, "score": round(h.score or 0.0, 4)} for h in hits]
        return json.dumps(found, ensure_ascii=False) if found else "No matching memories."

    async def forget(m: AsyncMemory, memory_id: str) -> str:
        try:
            item = await m.get(memory_id)
        except NotFoundError:
            item = None
        if item is None or any(getattr(item, k) != v for k, v in scope.items()):
            raise ToolException(f"No memory with id {memory_id!r}; search first to find ids.")
        await m.delete(memory_id)
        return f"Forgot memory {memory_id}: {item.text}"

    def tool(name: str, description: str, schema: type[BaseModel], fn: Any) -> StructuredTool:
        async def acall(**kwargs: Any) -> str:
            return await runner.arun(lambda m: fn(m, **kwargs))

        def call(**kwargs: Any) -> str:
            return runner.run(lambda m: fn(m, **kwargs))

        return StructuredTool.from_function(
            func=call,
            coroutine=acall,
            name=f"{prefix}{name}",
            description=description,
            args_schema=schema,
            handle_tool_error=True,
            handle_validation_error=True,
        )

    return [
        tool(
            "save_memory",
            "Save a fact about the user or the task to long-term memory, to use in later "
            "conversations. Save one fact per call.",
            SaveMemoryInput,
            save,
        ),
        tool(
            "search_memory",
            "Search long-term memory for facts saved in earlier conversations. Returns a "
            "JSON list of {id, text, score}, best match first.",
            SearchMemoryInput,
            search,
        ),
        tool(
            "forget_memory",
            "Forget (delete) one memory by its id, e.g. when the user asks you to or it is "
            "no longer true.",
            ForgetMemoryInput,
            forget,
        ),
    ]
