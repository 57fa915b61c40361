"""Benchmarks for agentmem-plugins (issue 2). Not timed tests: see BENCHMARKS.md.

Every script runs on its own (``python -m benchmarks.<name> [--quick]``) and
``python -m benchmarks.run_all`` runs them all in one invocation, side by side, and
writes ``benchmarks/results/<stamp>.json`` and ``.md`` (plus ``latest.*``).
"""
