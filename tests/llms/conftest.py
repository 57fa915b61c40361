# The loopback LLM server fixtures (llm_server, llm_server_factory). Imported here until the
# top-level tests/conftest.py registers agentmem_plugins.testing.pytest_plugin.

