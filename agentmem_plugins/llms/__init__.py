"""Chat models for intelligent mode: the protocol, an OpenAI-compatible client, fakes.

``call_json`` is the one place retries, re-asks and the concurrency bound live.
"""

from ._fake import ChatCall, RuleBasedChatModel, ScriptedChatModel
from ._hedging import ConcurrencyLimit, LatencyHedge
from ._openai import OpenAIChatModel
from ._protocol import ChatMessage, ChatModel
from ._retry import call_json, parse_json_answer, retry_wait

__all__ = [
    "ChatCall",
    "ChatMessage",
    "ChatModel",
    "ConcurrencyLimit",
    "LatencyHedge",
    "OpenAIChatModel",
    "RuleBasedChatModel",
    "ScriptedChatModel",
    "call_json",
    "parse_json_answer",
    "retry_wait",
]
