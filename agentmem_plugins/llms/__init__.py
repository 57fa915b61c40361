"""Chat models for intelligent mode: the protocol, an OpenAI-compatible client, fakes."""

from ._protocol import ChatMessage, ChatModel

__all__ = ["ChatMessage", "ChatModel"]
