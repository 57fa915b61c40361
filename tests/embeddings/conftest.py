"""Fixtures for the embedder tests: the project's tiny ONNX model, built once."""

from __future__ import annotations

from pathlib import Path

import pytest

from agentmem_plugins.testing.tiny_model import build_tiny_model


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_model(tmp_path_factory.mktemp("tiny-model"))


# Texts and queries where the right document shares words with the query and the
# others share none (beyond stop words).
_DOCS = [
    "Alice likes green tea in the morning",
    "The red car is parked outside the office",
    "Bob plays chess with his brother on Sunday",
    "The stock market fell sharply on Friday",
    "Carol is allergic to peanuts and milk",
]
_QUERIES = {
    "what tea does Alice like": 0,
    "where is the red car parked": 1,
    "who plays chess on Sunday": 2,
    "stock market fell": 3,
    "Carol allergic peanuts": 4,
}


@pytest.fixture
def docs() -> list[str]:
    return list(_DOCS)


@pytest.fixture
def queries() -> dict[str, int]:
    """Query -> index of the document in ``docs`` it must rank first."""
    return dict(_QUERIES)
