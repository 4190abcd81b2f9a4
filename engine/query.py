"""The job description shared by the app, the CLI and the job: ``JobSpec``.

Why one dataclass: the app builds it from the form, the CLI from a YAML file, the job reads it
back from ``<jobs_dir>/<id>/spec.yaml``; validating it in one place means a bad spec is refused
with the same one-line message wherever it comes from, before any engine starts.
Conditions are only checked for shape here (non-empty, no ``;``); their SQL is validated
against the archive schema by ``engine.conditions``.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from typing import Any

from engine import surveys
from engine.errors import UserError

SURVEYS = surveys.NAMES


@dataclasses.dataclass
class JobSpec:
    survey: str
    start: dt.date
    stop: dt.date
    classes: list[str] = dataclasses.field(default_factory=lambda: ["allclasses"])
    conditions: list[str] = dataclasses.field(default_factory=list)
    content: str | None = None   # None = the survey's default content; "custom" with fields
    fields: list[str] = dataclasses.field(default_factory=list)  # field list (replaces the preset)
    filters: list[str] = dataclasses.field(default_factory=list)  # Fink filters/blocks, "NOT x" negates
    limit: int | None = None
    topic: str | None = None
    xmatch: dict | None = None    # engine.xmatch: {path, ra, dec, id, radius_arcsec}
    dataset: dict | None = None   # engine.dataset: {max_per_class, class_column, sample_fraction, seed, split}

    def __post_init__(self):
        survey = surveys.get(self.survey)
        self.survey = survey.name
        self.start = _date(self.start, "start")
        self.stop = _date(self.stop, "stop")
        if self.stop < self.start:
            raise UserError(f"stop date {self.stop} is before start date {self.start}")
        if isinstance(self.classes, str):
            self.classes = [self.classes]
        self.classes = [str(c).strip() for c in (self.classes or []) if str(c).strip()] or ["allclasses"]
        if isinstance(self.conditions, str):
            self.conditions = parse_conditions_text(self.conditions)
        self.conditions = [_condition(c, i + 1) for i, c in enumerate(self.conditions or [])]
        self.conditions = [c for c in self.conditions if c]
        if isinstance(self.filters, str):
            self.filters = [self.filters]
        from engine.fink_filters import normalise

        self.filters = normalise(self.survey, self.filters or [])
        self.fields = _fields(self.fields)
        if self.fields:
            if self.content not in (None, "", "custom"):
                raise UserError(f"content {self.content!r} cannot be combined with fields: use one or the other")
            from engine.content import CUSTOM, custom_columns

            custom_columns(self.survey, self.fields)  # unknown field: a one-line error naming the nearest
            self.content = CUSTOM
        elif self.content in (None, "") or str(self.content).strip().lower() == "custom":
            self.content = survey.default_content
        else:
            self.content = survey.content_key(self.content)
        if self.limit is not None:
            if isinstance(self.limit, bool) or not _is_int(self.limit):
                raise UserError(f"limit must be a whole number, got {self.limit!r}")
            self.limit = int(self.limit)
            if self.limit <= 0:
                raise UserError(f"limit must be positive, got {self.limit}")
        if self.topic is not None:
            self.topic = str(self.topic).strip() or None
            if self.topic and not all(ch.isalnum() or ch in "._-" for ch in self.topic):
                raise UserError(f"topic {self.topic!r} may only contain letters, digits, '.', '_' and '-'")
        self._check_xmatch_and_dataset()

    def _check_xmatch_and_dataset(self) -> None:
        """Shape of the cross-match and data-set options (their own modules own the rules)."""
        from engine import dataset, xmatch

        self.xmatch = xmatch.check_options(self.xmatch)
        self.dataset = dataset.check_options(self.dataset)

    # ------------------------------------------------------------------ derived
    def all_conditions(self) -> list[str]:
        """The SQL conditions, then those of the Fink filters (one compiler for both)."""
        from engine.fink_filters import expressions

        return list(self.conditions) + expressions(self.survey, self.filters)

    @property
    def selector(self) -> str:
        """The content as engines carry it: the preset key or ``fields=...`` (engine.content)."""
        from engine.content import selector

        return selector(self.content, self.fields)

    def nights(self) -> list[dt.date]:
        """Every date of [start, stop], inclusive (nights without data are the reader's business)."""
        days = (self.stop - self.start).days
        return [self.start + dt.timedelta(days=i) for i in range(days + 1)]

    # ------------------------------------------------------------------ round trips
    def to_dict(self) -> dict[str, Any]:
        return {
            "survey": self.survey,
            "start": self.start.isoformat(),
            "stop": self.stop.isoformat(),
            "classes": list(self.classes),
            "conditions": list(self.conditions),
            "content": self.content,
            "fields": list(self.fields),
            "filters": list(self.filters),
            "limit": self.limit,
            "topic": self.topic,
            **({"xmatch": dict(self.xmatch)} if self.xmatch else {}),
            **({"dataset": dict(self.dataset)} if self.dataset else {}),
        }

    @classmethod
    def from_dict(cls, data: dict) -> "JobSpec":
        if not isinstance(data, dict):
            raise UserError("a job spec must be a mapping of keys to values")
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise UserError(f"unknown job spec key(s): {', '.join(unknown)}")
        missing = [k for k in ("survey", "start", "stop") if data.get(k) in (None, "")]
        if missing:
            raise UserError(f"job spec is missing: {', '.join(missing)}")
        return cls(**data)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2)

    @classmethod
    def from_json(cls, text: str) -> "JobSpec":
        try:
            data = json.loads(text)
        except json.JSONDecodeError as e:
            raise UserError(f"job spec is not valid JSON: {e.msg} (line {e.lineno})") from None
        return cls.from_dict(data)

    def to_yaml(self) -> str:
        import yaml

        return yaml.safe_dump(self.to_dict(), sort_keys=False, allow_unicode=True)

    @classmethod
    def from_yaml(cls, text: str) -> "JobSpec":
        import yaml

        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as e:
            mark = getattr(e, "problem_mark", None)
            where = f" (line {mark.line + 1})" if mark is not None else ""
            raise UserError(f"job spec is not valid YAML{where}") from None
        return cls.from_dict(data)


def parse_conditions_text(text: str) -> list[str]:
    """The textarea format: one condition per line, optionally ending with ``;``.

    Blank lines are ignored. A ``;`` anywhere but at the end of a line is an error naming the
    line, so ``a > 1; DROP TABLE x`` can never be smuggled in as two conditions.
    """
    out = []
    for number, raw in enumerate((text or "").splitlines(), start=1):
        line = raw.strip()
        if not line:
            continue
        body = line[:-1].rstrip() if line.endswith(";") else line
        if ";" in body:
            raise UserError(f"line {number}: ';' is only allowed at the end of a condition")
        if body:
            out.append(body)
    return out


# ---------------------------------------------------------------------- helpers

def _date(value, what: str) -> dt.date:
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    try:
        return dt.date.fromisoformat(str(value).strip())
    except ValueError:
        raise UserError(f"{what} date {value!r} is not a date (use YYYY-MM-DD)") from None


def option_mapping(value, name: str, keys) -> dict | None:
    """A spec's option mapping (``dataset``, ``xmatch``) checked for shape: None when empty, a
    one-line UserError when it is not a mapping or has a key outside ``keys``."""
    if value in (None, {}, ""):
        return None
    if not isinstance(value, dict):
        raise UserError(f"{name} must be a mapping ({', '.join(keys)})")
    unknown = sorted(set(value) - set(keys))
    if unknown:
        raise UserError(f"unknown {name} key(s): {', '.join(unknown)}")
    return value


def _condition(value, number: int) -> str:
    if not isinstance(value, str):
        raise UserError(f"condition {number} must be a string, got {type(value).__name__}")
    text = value.strip()
    if text.endswith(";"):
        text = text[:-1].rstrip()
    if ";" in text:
        raise UserError(f"condition {number}: ';' is not allowed inside a condition")
    from engine.conditions import MAX_LENGTH

    if len(text) > MAX_LENGTH:
        raise UserError(f"condition {number} is longer than {MAX_LENGTH} characters")
    return text


def _fields(value) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        value = [v for v in value.replace(",", " ").split()]
    if not isinstance(value, (list, tuple)):
        raise UserError(f"fields must be a list of field names, got {type(value).__name__}")
    out = []
    for v in value:
        if not isinstance(v, str) or not v.strip():
            raise UserError(f"fields must be field names such as diaSource.psfFlux, got {v!r}")
        if v.strip() not in out:
            out.append(v.strip())
    return out


def _is_int(value) -> bool:
    if isinstance(value, int):
        return True
    if isinstance(value, float):
        return value.is_integer()
    if isinstance(value, str):
        return value.strip().lstrip("+-").isdigit()
    return False
