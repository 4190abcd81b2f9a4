"""Progress bars of the long CLI commands (archive build and index, submit --wait, download).

One maintained library (tqdm) rather than hand-written ``\\r`` lines; always on stderr, so stdout
stays for results a script may parse.
"""

from __future__ import annotations

import sys

from tqdm import tqdm


def progress_bar(total: int | None, label: str, unit: str = " alerts", stream=None) -> tqdm:
    """A bar redrawn at most four times a second; its final state stays on screen (and in logs)."""
    return tqdm(total=total, desc=label, unit=unit, file=stream or sys.stderr, mininterval=0.25,
                dynamic_ncols=True, leave=True)
