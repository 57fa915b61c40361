"""The one error tree of agentmem-plugins.

Every error the library raises on purpose derives from :class:`AgentMemError`, so
``except AgentMemError`` catches all of them. Input errors also derive from
:class:`ValueError` (and a missing id from :class:`KeyError`) so code written against
plain Python conventions keeps working::

    AgentMemError
    ├── InvalidInputError (ValueError)      bad text, metadata, ids, limits
    │   ├── ScopeError                      no user_id/agent_id/run_id where one is required
    │   └── FilterError                     unknown operator, wrong value type, bad field
    ├── NotFoundError (KeyError)            unknown memory id
    ├── ConfigError (ValueError)            a config value that cannot work
    ├── EmbedderError                       the embedder cannot be loaded or failed
    │   └── EmbedderMismatchError           store made with another embedder (invariant 5)
    ├── LLMError                            the chat model failed
    │   ├── LLMTransientError               timeout, connection, 429, 5xx (retried)
    │   ├── LLMResponseError                malformed / schema-invalid answer (re-asked)
    │   └── LLMRequestError                 4xx other than 429 (never retried)
    └── StoreClosedError                    the memory was closed
"""

from __future__ import annotations

__all__ = [
    "AgentMemError",
    "ConfigError",
    "EmbedderError",
    "EmbedderMismatchError",
    "FilterError",
    "InvalidInputError",
    "LLMError",
    "LLMRequestError",
    "LLMResponseError",
    "LLMTransientError",
    "NotFoundError",
    "ScopeError",
    "StoreClosedError",
]


class AgentMemError(Exception):
    """Base class of every error agentmem-plugins raises on purpose."""


class InvalidInputError(AgentMemError, ValueError):
    """An argument is not acceptable; the message names the field and the fix."""


class ScopeError(InvalidInputError):
    """A write (or a scoped read) was given no user_id, agent_id or run_id."""


class FilterError(InvalidInputError):
    """A metadata filter uses an unknown operator, a bad field or a wrong value type."""


class NotFoundError(AgentMemError, KeyError):
    """No memory has the given id."""

    def __str__(self) -> str:  # KeyError would repr() the message
        return str(self.args[0]) if self.args else "not found"


class ConfigError(AgentMemError, ValueError):
    """A configuration value cannot work."""


class EmbedderError(AgentMemError):
    """The embedder could not be loaded or failed to embed."""


class EmbedderMismatchError(EmbedderError):
    """The store was created with a different embedder (name or dimension)."""


class LLMError(AgentMemError):
    """The chat model could not give a usable answer."""


class LLMTransientError(LLMError):
    """A failure worth retrying: timeout, connection error, HTTP 429 or 5xx."""

    def __init__(self, message: str, *, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class LLMResponseError(LLMError):
    """The model answered, but not with valid JSON of the expected shape."""


class LLMRequestError(LLMError):
    """The request itself was rejected (HTTP 4xx other than 429); retrying cannot help."""


class StoreClosedError(AgentMemError):
    """The memory has been closed; open a new one."""
