"""``python -m bot.bench``: run the benchmark."""

from bot.bench.run import entry

entry()
