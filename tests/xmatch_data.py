"""Test data for the cross-match: an archive with alerts at the sky's awkward places and catalogues.

``edge_archive`` copies a synthetic ZTF archive and moves some alerts to RA ~ 0/360 and to
Dec ~ +-89.99; ``catalogue_near`` puts sources at known offsets from chosen alerts (several per
alert sometimes, so "the nearest" is exercised) plus far decoys. ``reference`` is the expected
result computed independently with astropy's ``match_coordinates_sky``.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

NIGHTS = ["2021-11-22", "2021-11-23"]
LSST_NIGHTS = ["2026-03-06", "2026-03-07"]  # Fink's LSST alerts start on 2025-10-25; the real sample is of 03-06


def nights_of(survey: str) -> list[str]:
    return LSST_NIGHTS if survey == "lsst" else NIGHTS
EDGES = [(0.0003, 12.0), (359.9996, -5.0), (123.0, 89.999), (250.0, -89.9995), (0.0001, 89.998)]


def edge_archive(out: Path, survey: str = "ztf") -> Path:
    """A synthetic archive of ``survey`` (2 nights from NIGHTS[0]) with alerts moved to EDGES."""
    from engine.archive.generator import build_archive
    from engine.xmatch import position_fields

    struct, ra_name, dec_name = position_fields(survey)
    build_archive(survey, dt.date.fromisoformat(nights_of(survey)[0]), 2, 300, out, progress=False)
    for i, part in enumerate(sorted(out.glob("year=*/month=*/day=*/*.parquet"))):
        table = pq.read_table(part)
        cand = table.column(struct).combine_chunks()
        ra = cand.field(ra_name).to_numpy(zero_copy_only=False).astype(float)
        dec = cand.field(dec_name).to_numpy(zero_copy_only=False).astype(float)
        for k, (r, d) in enumerate(EDGES):
            row = 7 * k + i
            ra[row], dec[row] = r + 0.0001 * i, d
        fields = [cand.field(f.name) for f in cand.type]
        names = [f.name for f in cand.type]
        fields[names.index(ra_name)] = pa.array(ra).cast(cand.type.field(ra_name).type)
        fields[names.index(dec_name)] = pa.array(dec).cast(cand.type.field(dec_name).type)
        new = pa.StructArray.from_arrays(fields, fields=list(cand.type), mask=pc.is_null(cand))
        table = table.set_column(table.schema.get_field_index(struct), struct, new)
        pq.write_table(table, part)
    return out


def alert_positions(archive: Path, nights=None, survey: str = "ztf"):
    """DataFrame candid (the alert id: ZTF candid, ELASTICC alertId), ra, dec (degrees, as the
    engines read them: float64) and objectId (ZTF) of every alert of the archive's ``nights``
    (default NIGHTS)."""
    from engine.archive.reader import read_table
    from engine.dataset import alert_id_column
    from engine.xmatch import position_fields

    struct, ra_name, dec_name = position_fields(survey)
    table = read_table(archive, [dt.date.fromisoformat(str(n)) for n in (nights or nights_of(survey))])
    cand = table.column(struct)
    import pandas as pd

    def degrees(name):
        return pc.struct_field(cand, name).cast(pa.float64()).to_numpy()

    out = pd.DataFrame({"candid": table.column(alert_id_column(survey)).to_numpy(), "ra": degrees(ra_name),
                        "dec": degrees(dec_name)})
    if "objectId" in table.column_names:
        out["objectId"] = table.column("objectId").to_pylist()
    return out


def catalogue_near(alerts, radius_arcsec: float, seed: int = 3):
    """Sources near ~1/4 of the alerts (always the edge ones, within the radius), some 2 per alert, decoys."""
    import astropy.units as u
    import pandas as pd
    from astropy.coordinates import SkyCoord

    rng = np.random.default_rng(seed)
    edge = alerts.index[(alerts["ra"] < 0.01) | (alerts["ra"] > 359.99) | (alerts["dec"].abs() > 89.99)]
    chosen = np.unique(np.concatenate([edge, rng.choice(alerts.index, len(alerts) // 4, replace=False)]))
    base = SkyCoord(alerts.loc[chosen, "ra"].to_numpy() * u.deg, alerts.loc[chosen, "dec"].to_numpy() * u.deg)
    rows = []
    for copy in range(2):
        offset = rng.uniform(0.05, 0.95 if copy == 0 else 1.6, len(chosen)) * radius_arcsec
        moved = base.directional_offset_by(rng.uniform(0, 360, len(chosen)) * u.deg, offset * u.arcsec)
        keep = rng.random(len(chosen)) < (1.0 if copy == 0 else 0.4)
        rows.append(pd.DataFrame({"ra": moved.ra.deg[keep], "dec": moved.dec.deg[keep]}))
    decoys = pd.DataFrame({"ra": rng.uniform(0, 360, 50), "dec": rng.uniform(-80, 80, 50)})
    cat = pd.concat(rows + [decoys], ignore_index=True)
    cat["name"] = [f"SRC-{i:05d}" for i in range(len(cat))]
    return cat


def reference(alerts, cat, radius_arcsec: float) -> dict:
    """candid -> (catalogue name, separation arcsec) of alerts whose nearest source is within the radius."""
    import astropy.units as u
    from astropy.coordinates import SkyCoord, match_coordinates_sky

    idx, sep, _ = match_coordinates_sky(SkyCoord(alerts["ra"].to_numpy() * u.deg, alerts["dec"].to_numpy() * u.deg),
                                        SkyCoord(cat["ra"].to_numpy() * u.deg, cat["dec"].to_numpy() * u.deg))
    near = sep.arcsec <= radius_arcsec
    return {int(c): (cat["name"].iloc[i], float(s))
            for c, i, s in zip(alerts["candid"].to_numpy()[near], idx[near], sep.arcsec[near])}


def sexagesimal(cat):
    """The same catalogue with RA 'hh:mm:ss.ssss' and Dec '+dd:mm:ss.sss' strings (astropy formats them)."""
    import astropy.units as u
    from astropy.coordinates import Angle

    out = cat.copy()
    out["ra"] = Angle(cat["ra"].to_numpy() * u.deg).to_string(unit=u.hourangle, sep=":", precision=5, pad=True)
    out["dec"] = Angle(cat["dec"].to_numpy() * u.deg).to_string(unit=u.deg, sep=":", precision=4, alwayssign=True,
                                                                 pad=True)
    return out


def write_csv(cat, path: Path, comment: bool = True) -> Path:
    text = cat[["name", "ra", "dec"]].to_csv(index=False)
    path.write_text(("# my targets\n# columns: name, ra, dec\n" if comment else "") + text)
    return path
