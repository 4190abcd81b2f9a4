"""Fink filters and blocks: named, vetted condition expressions, selectable with NOT.

Why expressions: a filter is compiled by ``engine.conditions`` exactly like a user condition, so
it runs in Spark, DuckDB and the exact count with no second execution path, and a filter that
names a missing column fails at validation. Each survey declares its filters
(``Survey.filters``: name -> :class:`FinkFilter`); labels are ``name`` or ``NOT name`` (the real
LSST page's toggle), ANDed. A null result counts as false, so ``NOT x`` keeps the rows where x
is null or false, as the real Boolean UDFs do. Yields (fraction of alerts passing, measured by
Fink) feed the fast estimate: count x yield, 1 - yield for NOT, overlap ignored (as the portal).
"""

from __future__ import annotations

import dataclasses

from engine.errors import UserError


@dataclasses.dataclass(frozen=True)
class FinkFilter:
    name: str
    parts: tuple[str, ...]   # condition SQL of engine.conditions, ANDed
    description: str
    kind: str = "filter"     # "filter" or "block" (b_*)
    yield_: float = 1.0      # fraction of alerts passing; 1.0 when unmeasured (the portal's rule)

    @property
    def expression(self) -> str:
        return " AND ".join(f"coalesce({p}, FALSE)" for p in self.parts)


def _catalog(survey: str) -> dict[str, FinkFilter]:
    from engine import surveys

    return surveys.get(survey).filters()


def options(survey: str) -> list[FinkFilter]:
    return list(_catalog(survey).values())


def parse_label(survey: str, label: str) -> tuple[FinkFilter, bool]:
    """``"NOT b_is_new"`` -> (filter, negated); an unknown name is a one-line error."""
    import difflib

    text = " ".join(str(label).split())
    negated = text.upper().startswith("NOT ")
    name = text[4:].strip() if negated else text
    catalog = _catalog(survey)
    if name not in catalog:
        near = difflib.get_close_matches(name, list(catalog), n=1, cutoff=0.0)
        hint = f": did you mean {near[0]!r}?" if near else " (this survey has none)"
        raise UserError(f"unknown filter {name!r}{hint}")
    return catalog[name], negated


def normalise(survey: str, labels) -> list[str]:
    out = []
    for label in labels or []:
        f, negated = parse_label(survey, label)
        text = f"NOT {f.name}" if negated else f.name
        if text not in out:
            out.append(text)
    return out


def expressions(survey: str, labels) -> list[str]:
    """The conditions of the labels (null counts as false; NOT negates that): a filter gives one
    condition per part, its negation one condition."""
    from engine.conditions import VettedCondition  # the user-text length limit does not apply

    out = []
    for label in labels or []:
        f, negated = parse_label(survey, label)
        if negated:
            out.append(VettedCondition(f"NOT ({f.expression})"))
        else:
            out += [VettedCondition(f"coalesce({p}, FALSE)") for p in f.parts]
    return out


def yield_factor(survey: str, labels) -> float:
    factor = 1.0
    for label in labels or []:
        f, negated = parse_label(survey, label)
        factor *= (1.0 - f.yield_) if negated else f.yield_
    return factor
