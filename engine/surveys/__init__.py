"""The survey registry: everything survey-specific, one module per survey, behind one interface.

Why: generic code (schemas, conditions, content projection, estimate, job, consumer hints, app
pages, CLI choices) asks the registry and never names a survey, so adding a survey is adding one
module here (plus its schema files and generator), not editing branches all over the code.

A survey module defines a :class:`Survey` subclass instance named ``SURVEY``. Modules are
imported lazily (the registry is read by the CLI before pyarrow-heavy modules are needed).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import importlib
from functools import lru_cache

import pyarrow as pa

from engine.errors import UserError

# The registered surveys, in display order (app buttons, CLI choices).
NAMES = ("ztf", "elasticc", "lsst")
DEFAULT = "ztf"


@dataclasses.dataclass(frozen=True)
class Content:
    """One content preset: a key, its UI label and the nominal size of one real alert."""
    key: str
    label: str
    bytes_per_alert: int


@dataclasses.dataclass(frozen=True)
class OutputColumn:
    """One published column: its Arrow field and the path of the archive value it holds."""
    field: pa.Field
    path: tuple[str, ...]


def content_table(*rows) -> dict[str, Content]:
    """``{key: Content}`` from ``(key, label, bytes per alert)`` rows, in display order."""
    return {key: Content(key, label, size) for key, label, size in rows}


def label_aliases(contents: dict[str, Content]) -> dict[str, str]:
    """What a user may type for a preset besides its key: its label's name ("Full packet (~55 KB)"
    -> "full packet", and "full" without "packet"), any case."""
    out = {}
    for key, c in contents.items():
        name = c.label.split(" (")[0].split(":")[0].strip().lower()
        out[name] = key
        out[name.removesuffix(" packet")] = key
    return out


PARTITION_FIELDS = (pa.field("year", pa.int32()), pa.field("month", pa.int32()), pa.field("day", pa.int32()))


def flat(unified: pa.Schema, section: str, names) -> list[OutputColumn]:
    """``section.x`` published as root column ``x`` (what the real jobs' ``select("a.b")`` gives)."""
    typ = unified.field(section).type
    return [OutputColumn(pa.field(n, typ.field(n).type), (section, n)) for n in names]


def roots(unified: pa.Schema, names) -> list[OutputColumn]:
    return [OutputColumn(unified.field(n), (n,)) for n in names]


def without(cols: list[OutputColumn], drop) -> list[OutputColumn]:
    """Columns minus those whose name is in ``drop`` or starts with a ``prefix*`` entry of it."""
    prefixes = tuple(d[:-1] for d in drop if d.endswith("*"))
    names = {d for d in drop if not d.endswith("*")}
    return [c for c in cols if c.field.name not in names and not (prefixes and c.field.name.startswith(prefixes))]


class Survey:
    """The interface. Defaults suit a survey without classification or eras."""

    name: str = ""
    label: str = ""
    eras: tuple[str, ...] = ()
    contents: dict[str, Content] = {}
    default_content: str = "full"
    content_aliases: dict[str, str] = {}   # beyond the labels' names (label_aliases)
    # Top-level archive columns that classify() reads (read even when the content drops them).
    classification_inputs: tuple[str, ...] = ()
    # Columns appended by classify(): name -> Arrow type (conditions may name them).
    classification_fields: tuple[pa.Field, ...] = ()
    # Client partitionings (``-partitionby``), first = the one the download hint suggests.
    partitionings: tuple[str, ...] = ("time", "none")
    # A column of the lake files that tells this survey apart from the others.
    marker_columns: tuple[str, ...] = ()
    example_conditions: str = ""
    demo_start: str = ""
    first_night: dt.date | None = None
    # Position columns (ra, dec in degrees) and time (path, unit) of an alert.
    position_path: tuple[tuple[str, ...], tuple[str, ...]] = ()
    time_path: tuple[str, ...] = ()
    # Data sets and cross-match (engine.dataset, engine.xmatch): the alert's id, its object's id
    # (alternatives, the first one set wins: an LSST solar-system source has diaObjectId 0) and
    # the class columns a per-class cap may use (the first is the default).
    alert_id_path: tuple[str, ...] = ()
    object_id_paths: tuple[tuple[str, ...], ...] = ()
    class_columns: tuple[str, ...] = ()
    time_unit: str = "jd"   # of time_path: "jd" (Julian date) or "mjd" (modified Julian date)
    needs_stamp_bank: bool = False
    # The archive value a custom field list always gets (the client partitions on it).
    custom_required: tuple[str, ...] = ()
    # Explore page: which downloaded column plays which role (components.alerts.Roles; ra, dec
    # and time are the last names of position_path and time_path, see explore_roles), the
    # structs whose scalar fields are lifted to top level, and numeric band codes.
    explore_columns: dict[str, tuple[str, ...]] = {}
    explore_structs: tuple[str, ...] = ()
    explore_magnitudes: bool = False
    band_labels: dict[int, str] = {}

    @property
    def explore_roles(self) -> dict[str, tuple[str, ...]]:
        paths = {"ra": self.position_path[0][-1:], "dec": self.position_path[1][-1:]} if self.position_path else {}
        return {**paths, **({"time": self.time_path[-1:]} if self.time_path else {}), **self.explore_columns}

    # ------------------------------------------------------------------ schemas
    def era_of(self, night: dt.date) -> str:
        return self.eras[0]

    def era_arrow_schema(self, era: str) -> pa.Schema:
        raise NotImplementedError

    def unified_arrow_schema(self) -> pa.Schema:
        return self.era_arrow_schema(self.eras[0])

    # ------------------------------------------------------------------ content
    def output_columns(self, content: str, unified: pa.Schema) -> list[OutputColumn]:
        """Full packet: every archive column, then year/month/day (as Fink's lake had them)."""
        cols = [OutputColumn(f, (f.name,)) for f in unified]
        return cols + [OutputColumn(f, (f.name,)) for f in PARTITION_FIELDS]

    def candidate_fields_needed(self, content: str) -> tuple[str, ...] | None:
        """Fields of ``candidate`` an engine may ship alone (None = the whole struct)."""
        return None

    # ------------------------------------------------------------------ classification
    def classify(self, batch, tns):
        """Append the survey's class columns to a batch (default: none)."""
        return batch

    def filters(self) -> dict:
        """Fink filters and blocks: name -> engine.fink_filters.FinkFilter (default: none)."""
        return {}

    def class_options(self) -> dict[str, list[str]]:
        from engine.taxonomy import ALL_CLASSES

        return {self.label: [ALL_CLASSES]}

    def split_class_selection(self, labels: list[str]):
        """Labels -> (finkclass values, tnsclass values), None = no class filter."""
        from engine.taxonomy import ALL_CLASSES

        if not labels or ALL_CLASSES in labels:
            return None
        raise UserError(f"{self.label} has no class selection: use allclasses (got {labels[0]!r})")

    # ------------------------------------------------------------------ archive generation
    def population(self, seed: int):
        raise NotImplementedError

    def night_generator(self, night: dt.date, seed: int, population, bank):
        raise NotImplementedError

    def sample_batches(self, era: str):
        """Real alerts shipped with the project for one era: (batches, TNS rows)."""
        return [], []

    def check_build(self, start: dt.date) -> None:
        if self.first_night and start < self.first_night:
            raise UserError(f"{self.label} nights start on {self.first_night} (got {start})")

    def demo_plan(self, nights: int, per_night: int) -> tuple[int, int]:
        """Nights and alerts per night of the app's demo archive."""
        return nights, per_night

    # ------------------------------------------------------------------ helpers
    def content(self, key: str) -> Content:
        if key not in self.contents:
            raise UserError(f"unknown content {key!r} for {self.label}: choose one of {', '.join(self.contents)}")
        return self.contents[key]

    def content_key(self, value) -> str:
        """A content name or alias (any case) -> the content key, or a one-line error."""
        text = str(value).strip().lower()
        key = {**label_aliases(self.contents), **self.content_aliases}.get(text, text)
        if key not in self.contents:
            raise UserError(f"unknown content {value!r} for {self.label}: choose one of {', '.join(self.contents)}")
        return key


@lru_cache(maxsize=None)
def get(name: str) -> Survey:
    """The registered survey ``name`` (case-insensitive), or a one-line error listing them."""
    key = str(name).strip().lower()
    if key not in NAMES:
        raise UserError(f"unknown survey {name!r}: choose one of {', '.join(NAMES)}")
    return importlib.import_module(f"engine.surveys.{key}").SURVEY


def check(name: str) -> str:
    return get(name).name


def client_partitionings() -> tuple[str, ...]:
    """Every ``-partitionby`` value some survey offers (``none`` aside), in registry order."""
    out: list[str] = []
    for n in NAMES:
        out += [p for p in get(n).partitionings if p != "none" and p not in out]
    return tuple(out)


def time_columns() -> tuple[tuple[str | None, str, str, str], ...]:
    """(struct, field, unit, survey label) the client partitions by time on: every survey's
    ``time_path``, then the same field published at the root (a Light packet's ``jd``)."""
    paths = [get(n) for n in NAMES]
    nested = [(s.time_path[0], s.time_path[-1], s.time_unit, s.label) for s in paths if len(s.time_path) == 2]
    flat_ = [(None, s.time_path[-1], s.time_unit, s.label) for s in paths if s.time_path]
    return tuple(nested + flat_)


def labels() -> dict[str, str]:
    """``{name: label}`` in display order (app buttons)."""
    return {n: get(n).label for n in NAMES}


def detect(column_names) -> str | None:
    """The survey whose marker columns are all in ``column_names`` (most specific first)."""
    names = set(column_names)
    ordered = sorted(NAMES, key=lambda n: -len(get(n).marker_columns))
    for n in ordered:
        markers = get(n).marker_columns
        if markers and set(markers) <= names:
            return n
    return None
