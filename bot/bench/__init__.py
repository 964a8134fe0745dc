"""Benchmark: a seeded synthetic community (``synth``) and the measuring harness (``run``).

``python -m bot.bench`` (``make bench``) generates the community as generic JSONL and
measures the floor, the replay on SQLite and PostgreSQL, live latency, stateless scoring,
memory, and the import of a Telegram Desktop export of the same community; the results go
to ``bench-results.json`` and a table.
"""
