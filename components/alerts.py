"""Shape downloaded alerts for the Explore charts, whatever the content (flat or nested) or survey.

Why: the Lightcurve content is flat (``magpsf``, ``jd`` at top level), the Full content nests
them in ``candidate`` with the history in ``prv_candidates``, and ELASTICC uses ``diaSource`` /
``prvDiaSources`` with fluxes. The charts want one vocabulary: :func:`columns_for` says which
column plays which role, :func:`photometry` returns the points of one object.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from engine import surveys

# Structs whose scalar fields are lifted to top level (first one wins on a name clash).
LIFTED_STRUCTS = tuple(dict.fromkeys(s for n in surveys.NAMES for s in surveys.get(n).explore_structs))
HEAVY = ("cutoutScience", "cutoutTemplate", "cutoutDifference")
BAND_LABELS = {k: v for n in surveys.NAMES for k, v in surveys.get(n).band_labels.items()}


@dataclass(frozen=True)
class Roles:
    """Which column holds what (None when the content lacks it)."""

    object_id: str | None
    ra: str | None
    dec: str | None
    cls: str | None
    time: str | None
    value: str | None      # magnitude (ZTF) or flux (ELASTICC)
    error: str | None
    band: str | None
    history: str | None    # list of previous detections
    is_magnitude: bool


def to_pandas(table) -> pd.DataFrame:
    """Arrow table -> pandas with key struct fields lifted and cutouts dropped."""
    import pyarrow as pa
    import pyarrow.compute as pc

    names = set(table.column_names)
    for struct_name in LIFTED_STRUCTS:
        if struct_name not in table.column_names:
            continue
        col = table.column(struct_name)
        if not pa.types.is_struct(col.type):
            continue
        for field in col.type:
            if field.name in names or pa.types.is_nested(field.type) or pa.types.is_binary(field.type):
                continue
            table = table.append_column(field.name, pc.struct_field(col, field.name))
            names.add(field.name)
    keep = [c for c in table.column_names if c not in HEAVY and c not in LIFTED_STRUCTS]
    return table.select(keep).to_pandas()


def _first(df: pd.DataFrame, *candidates: str) -> str | None:
    return next((c for c in candidates if c in df.columns), None)


def columns_for(df: pd.DataFrame) -> Roles:
    """The roles of the survey whose explore columns best match ``df`` (engine.surveys)."""
    def score(name):
        return sum(_first(df, *cols) is not None for cols in surveys.get(name).explore_roles.values())

    best = surveys.get(max(surveys.NAMES, key=score))  # ties: the first registered survey
    pick = {role: _first(df, *cols) for role, cols in best.explore_roles.items()}
    return Roles(**{role: pick.get(role) for role in ("object_id", "ra", "dec", "cls", "time", "value", "error",
                                                      "band", "history")},
                 is_magnitude=best.explore_magnitudes)


def band_name(value) -> str:
    if isinstance(value, (int, float)) and not pd.isna(value):
        return BAND_LABELS.get(int(value), str(int(value)))
    return str(value)


def photometry(df: pd.DataFrame, object_id, roles: Roles | None = None) -> pd.DataFrame:
    """Points of one object: ``time, value, error, band, source``, deduplicated.

    ``source`` is ``alert`` (the alert's own point), ``history`` (a detection of an alert's
    history: the same point as an earlier alert, or one that never became an alert of this
    download) or ``upper limit`` (a history epoch without detection: ``value`` is its
    ``diffmaglim``, no error), the last only when the content carries the history (Full).
    """
    roles = roles or columns_for(df)
    if roles.object_id is None or roles.time is None or roles.value is None:
        return pd.DataFrame(columns=["time", "value", "error", "band", "source"])
    rows = df[df[roles.object_id] == object_id]
    points = []
    for _, row in rows.iterrows():
        points.append((row[roles.time], row[roles.value],
                       row[roles.error] if roles.error else None,
                       row[roles.band] if roles.band else "", "alert"))
        history = row[roles.history] if roles.history else None
        if history is None or (isinstance(history, float) and pd.isna(history)):
            continue
        for item in history:
            if not isinstance(item, dict):
                continue
            t = item.get(roles.time)
            v = item.get(roles.value)
            band = item.get(roles.band, "") if roles.band else ""
            if t is None:
                continue
            if v is None or (isinstance(v, float) and pd.isna(v)):
                limit = item.get("diffmaglim") if roles.is_magnitude else None
                if limit is not None and not pd.isna(limit):
                    points.append((t, limit, None, band, "upper limit"))
                continue
            points.append((t, v, item.get(roles.error) if roles.error else None, band, "history"))
    out = pd.DataFrame(points, columns=["time", "value", "error", "band", "source"])
    if out.empty:
        return out
    out["band"] = out["band"].map(band_name)
    out = (out.sort_values(["time", "source"])  # "alert" < "history" < "upper limit": keep the alert
              .drop_duplicates(subset=["time", "band"], keep="first")
              .reset_index(drop=True))
    return out


def objects_by_points(df: pd.DataFrame, roles: Roles | None = None, top: int = 200) -> list:
    """Object ids with the most alerts first (the interesting light curves)."""
    return list(alerts_per_object(df, roles, top))


def alerts_per_object(df: pd.DataFrame, roles: Roles | None = None, top: int = 200) -> dict:
    """``{object id: number of alerts}``, most alerts first (ties by id, so the order is stable)."""
    roles = roles or columns_for(df)
    if roles.object_id is None:
        return {}
    counts = df[roles.object_id].value_counts()
    counts = counts.rename_axis("id").reset_index(name="n").sort_values(["n", "id"], ascending=[False, True])
    return dict(zip(counts["id"].head(top), counts["n"].head(top).astype(int)))
