"""The collector's clock: server arrival times (docs/design.md §3), from the system clock or, in
tests, from a file the test writes (`Config.clock_file`).

A fake clock is for what a user never runs (STYLE: fakes only for a clock or a random source):
a click at 23:59 and its conversion at 00:01 cannot wait for midnight.
"""

from __future__ import annotations

import time
from pathlib import Path


class Clock:
    def __init__(self, fake_file: str | None = None) -> None:
        self.fake_file = Path(fake_file) if fake_file else None

    def now_ms(self) -> int:
        """Epoch milliseconds now: the system's, or the fake file's while it holds a number."""
        if self.fake_file is not None:
            try:
                return int(self.fake_file.read_text().strip())
            except (OSError, ValueError):
                pass  # no time set yet: the real one
        return int(time.time() * 1000)
