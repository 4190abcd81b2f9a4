"""What the sub-command shells share: their actions (``jobs show ID``, ``users add NAME``, ...)
and the plain-text tables of their ``list`` actions (one layout, one line instead of an empty table)."""

from __future__ import annotations

from datetime import datetime


def action(actions, name: str, text: str, func, *positionals: str):
    """Add the action ``name`` (help ``text``, run by ``func``) with its positional arguments;
    returns its parser for the options."""
    parser = actions.add_parser(name, help=text)
    for positional in positionals:
        parser.add_argument(positional)
    parser.set_defaults(func=func)
    return parser


def local_time(ts: float | None, fmt: str = "%Y-%m-%d %H:%M:%S") -> str:
    """A Unix time as local date and time, '-' when unknown."""
    return datetime.fromtimestamp(ts).strftime(fmt) if ts else "-"


def print_table(columns: list[tuple[str, int]], rows: list[list[str]], empty: str) -> None:
    """Print ``rows`` under ``columns`` ((title, width); a negative width right-aligns), or
    ``empty`` when there are none. The last column is not padded."""
    if not rows:
        print(empty)
        return

    def line(cells) -> str:
        out = [f"{cell:>{-w}}" if w < 0 else f"{cell:{w}}" for cell, (_, w) in zip(cells[:-1], columns)]
        return " ".join(out + [str(cells[-1])]).rstrip()

    print(line([title for title, _ in columns]))
    for row in rows:
        print(line([str(c) for c in row]))
