"""LangChain's own standard suites, run against our vector store and retriever."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from langchain_agentmem import AgentMemRetriever, AgentMemVectorStore
from langchain_core.documents import Document
from langchain_tests.integration_tests import (
    RetrieversIntegrationTests,
    VectorStoreIntegrationTests,
)


class TestAgentMemVectorStore(VectorStoreIntegrationTests):
    @pytest.fixture
    def vectorstore(self, tmp_path, backend) -> Iterator[AgentMemVectorStore]:
        store = AgentMemVectorStore(
            embedding=self.get_embeddings(), path=tmp_path / "vs", **backend
        )
        yield store
        store.close()

    @property
    def has_sync(self) -> bool:
        return True

    @property
    def has_async(self) -> bool:
        return True

    @property
    def has_get_by_ids(self) -> bool:
        return True


class TestAgentMemRetriever(RetrieversIntegrationTests):
    @pytest.fixture(autouse=True)
    def _store(self, tmp_path) -> Iterator[None]:
        store = AgentMemVectorStore(
            embedding=VectorStoreIntegrationTests.get_embeddings(), path=tmp_path / "vs"
        )
        store.add_documents(
            [Document(page_content=f"green tea fact {i}", metadata={"i": i}) for i in range(5)]
        )
        self._vectorstore = store
        yield
        store.close()

    @property
    def retriever_constructor(self) -> type[AgentMemRetriever]:
        return AgentMemRetriever

    @property
    def retriever_constructor_params(self) -> dict:
        return {"vectorstore": self._vectorstore}

    @property
    def retriever_query_example(self) -> str:
        return "green tea"
