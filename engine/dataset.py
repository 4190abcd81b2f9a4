"""Data-set options for machine learning: a class cap, a seeded sample and a train/validation/test split.

Why hashes and not random draws: the same spec must give the same data set whatever the engine,
the number of workers or the batch order. So

* ``sample_fraction`` keeps an alert when ``h(seed, alert id) < fraction`` (alert id: ZTF
  ``candid``, ELASTICC ``alertId``): a Bernoulli sample, identical run after run;
* ``split`` labels an alert ``train`` / ``validation`` / ``test`` from ``h(seed, object id)``
  and the cumulative fractions, so every alert of one object lands in the same split;
* ``max_per_class`` keeps at most N alerts per value of ``class_column`` (default ``finkclass``
  / ``classId``). Exact across workers: each worker reserves its share from one per-class
  counter file in the job directory under an exclusive ``flock`` (local processes and Spark
  tasks on this machine or the local standalone cluster share it). Which alerts fill a class
  depends on the order the workers reach them; with one worker (or a job limit) it is fixed.
  Executors without the job directory fall back to a per-process counter (not exact).

``h`` is ``blake2b(f"{seed}:{value}")`` mapped to [0, 1).

:func:`before_selection` and :func:`after_selection` are the two hooks of the shared pipeline
(``engine.job.pipeline.process_batch``); the cross-match (engine.xmatch) runs in the first.
"""

from __future__ import annotations

import hashlib
import json
import os

import numpy as np

from engine import surveys
from engine.errors import UserError

OPTION_KEYS = ("max_per_class", "class_column", "sample_fraction", "seed", "split")
SPLITS = ("train", "validation", "test")
SPLIT_COLUMN = "split"
COUNTS_FILE = "class_counts.json"


# ------------------------------------------------------------------------------ spec options

def check_options(value) -> dict | None:
    """The spec's ``dataset`` mapping, validated (one-line errors); None when nothing is asked."""
    from engine.query import option_mapping

    value = option_mapping(value, "dataset", OPTION_KEYS)
    if value is None:
        return None
    out: dict = {"seed": _int(value.get("seed", 0) or 0, "dataset seed", minimum=0)}
    if value.get("max_per_class") not in (None, ""):
        out["max_per_class"] = _int(value["max_per_class"], "max_per_class", minimum=1)
    if value.get("class_column") not in (None, ""):
        out["class_column"] = str(value["class_column"]).strip()
    if value.get("sample_fraction") not in (None, ""):
        frac = _float(value["sample_fraction"], "sample_fraction")
        if not 0 < frac <= 1:
            raise UserError(f"sample_fraction must be in (0, 1], got {frac:g}")
        out["sample_fraction"] = frac
    if value.get("split") not in (None, "", {}):
        out["split"] = parse_split(value["split"])
    return out if len(out) > 1 else None


def parse_split(value) -> dict:
    """``{train, validation, test}`` fractions from a mapping or ``"0.8,0.1,0.1"``; they must sum to 1."""
    if isinstance(value, str):
        parts = [p for p in value.replace(":", ",").split(",") if p.strip()]
        if len(parts) != 3:
            raise UserError(f"split must be three fractions train,validation,test, got {value!r}")
        value = dict(zip(SPLITS, parts))
    if not isinstance(value, dict) or set(value) - set(SPLITS):
        raise UserError("split must give train, validation and test fractions")
    fractions = {k: _float(value.get(k, 0) or 0, f"split {k}") for k in SPLITS}
    if any(f < 0 for f in fractions.values()) or abs(sum(fractions.values()) - 1) > 1e-6:
        raise UserError(f"split fractions must be >= 0 and sum to 1, got {', '.join(f'{v:g}' for v in fractions.values())}")
    return fractions


def _int(value, what: str, minimum: int) -> int:
    try:
        number = int(str(value).strip()) if not isinstance(value, (int, float)) or isinstance(value, bool) \
            else int(value)
        if isinstance(value, float) and not value.is_integer():
            raise ValueError
    except (TypeError, ValueError):
        raise UserError(f"{what} must be a whole number, got {value!r}") from None
    if number < minimum:
        raise UserError(f"{what} must be >= {minimum}, got {number}")
    return number


def _float(value, what: str) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        raise UserError(f"{what} must be a number, got {value!r}") from None


def alert_id_column(survey: str) -> str:
    """The top-level column holding the alert's id (the sample's hash key)."""
    return surveys.get(survey).alert_id_path[0]


def added_class_columns(survey: str) -> set[str]:
    """Class columns the job adds (finkclass, tnsclass, tns_type_recomputed): not archive columns."""
    return {f.name for f in surveys.get(survey).classification_fields}


def class_column(survey: str, options: dict | None) -> str:
    return (options or {}).get("class_column") or surveys.get(survey).class_columns[0]


def check_class_column(survey: str, options: dict | None) -> None:
    """The class column must be a top-level archive column or finkclass/tnsclass."""
    if not options or "max_per_class" not in options:
        return
    from engine.schemas import unified_arrow_schema

    name = class_column(survey, options)
    names = set(unified_arrow_schema(survey).names) | added_class_columns(survey)
    if name not in names:
        examples = ", ".join(surveys.get(survey).class_columns)
        raise UserError(f"class column {name!r} is not a top-level alert column (e.g. {examples})")


def check_job_options(spec, archive_dir, nights) -> set:
    """Plan-time checks of the xmatch and dataset options; returns the archive columns they read.

    The catalogue is read and validated here and must reach an alert of the nights (one clear
    message before any job runs, rather than an empty topic).
    """
    from engine import xmatch

    columns = set()
    if spec.xmatch:
        xmatch.check_overlap(archive_dir, spec.survey, nights, spec.xmatch)
        xmatch.forget_indexes()  # the job's driver does not match: its workers build their own
        columns.add(xmatch.position_fields(spec.survey)[0])
    if spec.dataset:
        check_class_column(spec.survey, spec.dataset)
        if "max_per_class" in spec.dataset:
            columns.add(class_column(spec.survey, spec.dataset))
        columns.add(alert_id_column(spec.survey))
        columns.update(path[0] for path in surveys.get(spec.survey).object_id_paths)
    return columns - added_class_columns(spec.survey)


# ------------------------------------------------------------------------------ hashes

def unit_hash(values, seed: int = 0) -> np.ndarray:
    """Stable h(seed, value) in [0, 1) for each value (blake2b, 64 bits)."""
    key = f"{int(seed)}:".encode()
    out = np.empty(len(values), dtype=np.float64)
    for i, value in enumerate(values):
        digest = hashlib.blake2b(key + str(value).encode(), digest_size=8).digest()
        out[i] = int.from_bytes(digest, "big") / 2.0 ** 64
    return out


def split_of(hashes: np.ndarray, fractions: dict) -> np.ndarray:
    """train / validation / test from hashes in [0, 1) by cumulative fractions."""
    edges = np.cumsum([fractions[k] for k in SPLITS])
    edges[-1] = 1.0
    return np.asarray(SPLITS, dtype=object)[np.minimum(np.searchsorted(edges, hashes, side="right"), 2)]


def _ids(batch, path) -> list:
    """The values at ``path`` (a column, or a struct and its field) of every row."""
    import pyarrow.compute as pc

    col = batch.column(path[0])
    return (pc.struct_field(col, list(path[1:])) if len(path) > 1 else col).to_pylist()


def object_ids(batch, survey: str) -> list:
    """Each alert's object id: the first of the survey's object id paths that is set (not null and
    not 0: Rubin writes diaObjectId = 0 for a solar-system source, ssObjectId = 0 for the others)."""
    ids = [None] * batch.num_rows
    for path in surveys.get(survey).object_id_paths:
        ids = [i if i not in (None, 0) else v for i, v in zip(ids, _ids(batch, path))]
    return ids


# ------------------------------------------------------------------------------ the class cap

class ClassQuota:
    """At most N alerts per class over every worker of a job (see the module docstring)."""

    _local: dict = {}

    def __init__(self, job_dir: str, limit: int, key: str):
        self.path = os.path.join(job_dir, COUNTS_FILE) if job_dir else ""
        self.limit = int(limit)
        self.key = key

    def reserve(self, wanted: dict) -> dict:
        """Grant each class min(wanted, what is left); the counter is updated atomically."""
        if not self.path:
            return self._grant(self._local.setdefault(self.key, {}), wanted)
        import fcntl

        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            raw = b""
            while chunk := os.read(fd, 1 << 16):
                raw += chunk
            counts = json.loads(raw) if raw.strip() else {}
            granted = self._grant(counts, wanted)
            data = json.dumps(counts).encode()
            os.lseek(fd, 0, os.SEEK_SET)
            os.ftruncate(fd, 0)
            os.write(fd, data)
            return granted
        finally:
            os.close(fd)

    def _grant(self, counts: dict, wanted: dict) -> dict:
        granted = {}
        for cls, n in wanted.items():
            used = int(counts.get(cls, 0))
            granted[cls] = max(0, min(int(n), self.limit - used))
            counts[cls] = used + granted[cls]
        return granted


def cap_mask(classes: list, quota: ClassQuota) -> np.ndarray:
    """Keep, in batch order, the first alerts of each class that the quota grants."""
    labels = ["" if c is None else str(c) for c in classes]
    wanted: dict = {}
    for label in labels:
        wanted[label] = wanted.get(label, 0) + 1
    granted = quota.reserve(wanted)
    keep = np.zeros(len(labels), dtype=bool)
    for i, label in enumerate(labels):
        if granted[label] > 0:
            keep[i] = True
            granted[label] -= 1
    return keep


# ------------------------------------------------------------------------------ pipeline hooks

def before_selection(batch, ctx):
    """Cheap cuts first: the cross-match (adds xmatch_id / xmatch_sep_arcsec), then the sample."""
    import pyarrow as pa

    if getattr(ctx, "xmatch", None) and batch.num_rows and not getattr(ctx, "xmatched", False):
        from engine.xmatch import match_batch

        batch = match_batch(batch, ctx.survey, ctx.xmatch)
    options = getattr(ctx, "dataset", None) or {}
    if "sample_fraction" in options and batch.num_rows and options["sample_fraction"] < 1:
        hashes = unit_hash(_ids(batch, (alert_id_column(ctx.survey),)), options["seed"])
        batch = batch.filter(pa.array(hashes < options["sample_fraction"]))
    return batch


def after_selection(selected, projected, ctx):
    """The class cap (on the selected rows), then the extra output columns on the projected ones."""
    import pyarrow as pa

    from engine.xmatch import ID_COLUMN, SEP_COLUMN

    options = getattr(ctx, "dataset", None) or {}
    if "max_per_class" in options and selected.num_rows:
        quota = ClassQuota(ctx.job_dir, options["max_per_class"], ctx.topic)
        keep = pa.array(cap_mask(selected.column(class_column(ctx.survey, options)).to_pylist(), quota))
        selected, projected = selected.filter(keep), projected.filter(keep)
    if getattr(ctx, "xmatch", None):
        projected = projected.append_column(ID_COLUMN, selected.column(ID_COLUMN))
        projected = projected.append_column(SEP_COLUMN, selected.column(SEP_COLUMN))
    if "split" in options:
        labels = split_of(unit_hash(object_ids(selected, ctx.survey), options["seed"]), options["split"])
        projected = projected.append_column(SPLIT_COLUMN, pa.array(labels.tolist(), pa.string()))
    return projected


def output_avro_schema(survey: str, content: str, spec: dict) -> dict:
    """The published schema: the content's columns + xmatch_id, xmatch_sep_arcsec, split when asked."""
    import pyarrow as pa

    from engine.avro.schema import avro_schema_from_arrow
    from engine.content import output_arrow_schema
    from engine.xmatch import output_fields

    fields = list(output_arrow_schema(survey, content)) + output_fields(spec.get("xmatch"))
    if (spec.get("dataset") or {}).get("split"):
        fields.append(pa.field(SPLIT_COLUMN, pa.string()))
    return avro_schema_from_arrow(pa.schema(fields))


# ------------------------------------------------------------------------------ estimates

def adjust_counts(per_class: dict, options: dict | None) -> dict:
    """Expected alerts per class after the sample fraction and the cap (the estimate's view)."""
    options = options or {}
    frac = options.get("sample_fraction", 1.0)
    cap = options.get("max_per_class")
    out = {}
    for cls, n in per_class.items():
        value = n * frac
        out[cls] = min(value, cap) if cap is not None else value
    return out
