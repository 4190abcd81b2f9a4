"""Cross-match a user's catalogue with the alerts while they are transferred.

Why here and not in SQL: the match is a sky join, so it uses a sky index (HEALPix cells from
``cdshealpix``) for the candidate pairs and astropy's ``angular_separation`` for the exact
distance; both engines call :func:`match_batch` from the shared per-batch pipeline.

Semantics (documented in docs/xmatch.md): an alert is kept when a catalogue source lies within
``radius_arcsec``; it carries the id of the NEAREST such source (``xmatch_id``) and the
separation (``xmatch_sep_arcsec``). A source may match several alerts (every detection of an
object). Fink matches the other way (each source claims its nearest alert per batch), which
drops repeated detections of one object within a batch.

Catalogue: CSV (``#`` comments), Parquet, VOTable or FITS table, read with astropy; RA/Dec in
degrees or sexagesimal (``hh:mm:ss`` / ``hh mm ss`` / ``12h34m56s``, Dec ``±dd:mm:ss``). At most
:data:`MAX_ROWS` rows. At submission the catalogue is converted to a compact Parquet file in the
job directory (:func:`attach_to_job`), which the workers read; it is deleted when the job's
topic expires (:func:`purge_expired`).
"""

from __future__ import annotations

import dataclasses
import functools
import math
import os
import time
from pathlib import Path

import numpy as np

from engine.errors import UserError

MAX_ROWS = 1_000_000
MAX_RADIUS_ARCSEC = 3600.0
STORED_NAME = "xmatch_catalogue.parquet"
ID_COLUMN = "xmatch_id"
SEP_COLUMN = "xmatch_sep_arcsec"
MAX_DEPTH = 20  # ~0.2" cells: finer ones would not help (alert positions are ~0.1" precise)
FOOTPRINT_DEPTH = 7  # ~27' cells: the per-night footprint the fast estimate uses
CHUNK_ROWS = 20_000  # positions matched at once by the Spark positions pass (match_positions)
FORMATS = {".csv": "ascii.csv", ".txt": "ascii.csv", ".tsv": "ascii.tab", ".parquet": "parquet",
           ".pq": "parquet", ".xml": "votable", ".vot": "votable", ".votable": "votable",
           ".fits": "fits", ".fit": "fits", ".fits.gz": "fits"}
OPTION_KEYS = ("path", "ra", "dec", "id", "radius_arcsec")


def position_fields(survey: str) -> tuple[str, str, str]:
    """(struct, ra field, dec field) of an alert's position, from the survey registry."""
    from engine import surveys

    (struct, ra), (_, dec) = surveys.get(survey).position_path
    return struct, ra, dec


# ------------------------------------------------------------------------------ spec options

def check_options(value) -> dict | None:
    """The spec's ``xmatch`` mapping, validated for shape (the file is read at planning)."""
    from engine.query import option_mapping

    value = option_mapping(value, "xmatch", OPTION_KEYS)
    if value is None:
        return None
    missing = [k for k in OPTION_KEYS if value.get(k) in (None, "")]
    if missing:
        raise UserError(f"xmatch is missing: {', '.join(missing)}")
    out = {k: str(value[k]).strip() for k in ("path", "ra", "dec", "id")}
    out["radius_arcsec"] = check_radius(value["radius_arcsec"])
    return out


def check_radius(value) -> float:
    try:
        radius = float(value)
    except (TypeError, ValueError):
        raise UserError(f"xmatch radius must be a number of arcsec, got {value!r}") from None
    if not (0 < radius <= MAX_RADIUS_ARCSEC):
        raise UserError(f"xmatch radius must be > 0 and <= {MAX_RADIUS_ARCSEC:g} arcsec, got {value}")
    return radius


# ------------------------------------------------------------------------------ reading

def read_table(path):
    """The file as an astropy Table (format from the name); one-line errors."""
    from astropy.table import Table

    path = Path(path)
    name = path.name.lower()
    fmt = next((f for suffix, f in sorted(FORMATS.items(), key=lambda kv: -len(kv[0]))
                if name.endswith(suffix)), None)
    if fmt is None:
        raise UserError(f"catalogue {path.name}: format not recognised (use .csv, .parquet, .xml/.vot, .fits)")
    if not path.is_file():
        raise UserError(f"catalogue {path} does not exist")
    kwargs = {"comment": "#"} if fmt.startswith("ascii") else {}
    try:
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            table = Table.read(str(path), format=fmt, **kwargs)
    except Exception as exc:  # noqa: BLE001 - any parser failure is the user's file
        raise UserError(f"cannot read catalogue {path.name} as {fmt}: {exc}".splitlines()[0][:300]) from None
    if len(table) > MAX_ROWS:
        raise UserError(f"catalogue too large: {len(table):,} rows (at most {MAX_ROWS:,})")
    if len(table) == 0:
        raise UserError(f"catalogue {path.name} has no rows")
    return table


def preview(path, rows: int = 10):
    """(column names, first rows as pandas, row count) for the app's column pickers."""
    table = read_table(path)
    try:
        frame = table[:rows].to_pandas()
    except Exception:  # noqa: BLE001 - multidimensional columns: no preview, the pickers still work
        frame = None
    return list(table.colnames), frame, len(table)


def _column(table, name: str, what: str):
    if name not in table.colnames:
        raise UserError(f"catalogue has no {what} column {name!r} (columns: {', '.join(table.colnames[:20])})")
    col = table[name]
    if getattr(col, "ndim", 1) != 1:
        raise UserError(f"catalogue column {name!r} is not a scalar column")
    return col


def _numbers(col):
    """Float degrees of a numeric column (masked -> NaN), or None when it holds text."""
    if col.dtype.kind in "iuf":
        values = np.ma.filled(np.ma.asarray(col, dtype=float), np.nan)
        unit = getattr(col, "unit", None)
        if unit is not None and str(unit) in ("rad", "hourangle", "h"):
            import astropy.units as u

            values = (values * u.Unit(str(unit))).to_value(u.deg)
        return values
    return None


def _texts(col) -> np.ndarray:
    values = np.ma.filled(np.ma.asarray(col).astype(str), "")
    if values.dtype.kind == "S":
        values = values.astype(str)
    return np.char.strip(values)


def _angles(col, name: str, unit) -> np.ndarray:
    """Degrees from a column in degrees (numbers or numeric text) or sexagesimal (astropy Angle)."""
    from astropy.coordinates import Angle

    values = _numbers(col)
    if values is not None:
        return values
    text = _texts(col)
    try:
        return text.astype(float)
    except ValueError:
        pass
    try:
        return Angle(text, unit=unit).degree
    except Exception:  # noqa: BLE001 - astropy says which value it could not parse
        bad = next((t for t in text[:1000] if not _parses(t, unit)), text[0])
        raise UserError(f"catalogue column {name!r} is not coordinates (e.g. {bad!r}): "
                        "use degrees or sexagesimal") from None


def _parses(text, unit) -> bool:
    from astropy.coordinates import Angle

    try:
        Angle(text, unit=unit)
        return True
    except Exception:  # noqa: BLE001
        return False


@dataclasses.dataclass
class Catalogue:
    """Validated sources: string ids (numpy object array, or an Arrow string array when read back), ICRS degrees."""

    ids: object
    ra: np.ndarray
    dec: np.ndarray
    cells: np.ndarray | None = None  # HEALPix cells at ``depth``, when stored with the job
    depth: int | None = None

    def __len__(self) -> int:
        return len(self.ra)


def load_catalogue(path, ra: str, dec: str, id: str) -> Catalogue:  # noqa: A002 - the spec's key
    """Read and validate a catalogue; one-line UserError for any problem (NaN, range, columns)."""
    import astropy.units as u

    table = read_table(path)
    ra_deg = _angles(_column(table, ra, "RA"), ra, u.hourangle)
    dec_deg = _angles(_column(table, dec, "Dec"), dec, u.deg)
    ids = _texts(_column(table, id, "id")).astype(object)
    for name, values in ((ra, ra_deg), (dec, dec_deg)):
        bad = np.flatnonzero(~np.isfinite(values))
        if bad.size:
            raise UserError(f"catalogue column {name!r} has {bad.size} empty or NaN value(s) (first at row {bad[0] + 1})")
    if np.any(np.abs(dec_deg) > 90):
        row = int(np.flatnonzero(np.abs(dec_deg) > 90)[0]) + 1
        raise UserError(f"catalogue column {dec!r} is not a declination: {dec_deg[row - 1]:g} at row {row}")
    if np.any((ra_deg < -360) | (ra_deg > 360)):
        row = int(np.flatnonzero((ra_deg < -360) | (ra_deg > 360))[0]) + 1
        raise UserError(f"catalogue column {ra!r} is not a right ascension: {ra_deg[row - 1]:g} at row {row}")
    return Catalogue(ids=ids, ra=np.mod(ra_deg, 360.0), dec=dec_deg.astype(float))


def store_catalogue(cat: Catalogue, path, radius_arcsec: float | None = None) -> Path:
    """The compact copy the workers read: id (string), ra, dec (float64 degrees), in file order.

    With ``radius_arcsec``, also each source's HEALPix cell at the index depth for that radius
    (``cell`` column, the depth in the schema metadata): every worker process (and the job's
    planning) would otherwise compute the same 1M cells again (~0.45 CPU-s each).
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = Path(path)
    ids = cat.ids if isinstance(cat.ids, pa.Array) else pa.array(cat.ids.tolist(), pa.string())
    columns = {"id": ids, "ra": cat.ra, "dec": cat.dec}
    metadata = None
    if radius_arcsec is not None:
        depth = depth_for_radius(radius_arcsec)
        columns["cell"] = healpix_cells(cat.ra, cat.dec, depth)
        metadata = {b"healpix_depth": str(depth).encode()}
    pq.write_table(pa.table(columns, metadata=metadata), path)
    return path


def read_stored(path) -> Catalogue:
    import pyarrow.parquet as pq

    table = pq.read_table(path)
    depth = (table.schema.metadata or {}).get(b"healpix_depth")
    stored_cells = depth is not None and "cell" in table.column_names
    return Catalogue(ids=table.column("id").combine_chunks(),  # Arrow strings: ~5x smaller than Python str
                     ra=table.column("ra").to_numpy(), dec=table.column("dec").to_numpy(),
                     cells=table.column("cell").to_numpy() if stored_cells else None,
                     depth=int(depth) if stored_cells else None)


# ------------------------------------------------------------------------------ the sky index

def depth_for_radius(radius_arcsec: float) -> int:
    """Deepest HEALPix depth whose mean cell size is >= 2 radii.

    Why: an alert's cell and its 8 neighbours then contain every point within the radius
    (tested near the poles and RA = 0/360 against astropy's match_coordinates_sky).
    """
    radius = math.radians(radius_arcsec / 3600.0)
    depth = 0
    while depth < MAX_DEPTH and math.sqrt(4 * math.pi / (12 * 4 ** (depth + 1))) >= 2 * radius:
        depth += 1
    return depth


def healpix_cells(ra_deg, dec_deg, depth: int) -> np.ndarray:
    import astropy.units as u
    from astropy.coordinates import Latitude, Longitude
    from cdshealpix.nested import lonlat_to_healpix

    return lonlat_to_healpix(Longitude(np.asarray(ra_deg, float) * u.deg),
                             Latitude(np.asarray(dec_deg, float) * u.deg), depth).astype(np.int64)


def neighbourhoods(cells: np.ndarray, depth: int) -> np.ndarray:
    """(n, 9) cells: each cell and its neighbours, -1 where a neighbour does not exist."""
    from cdshealpix.nested import neighbours

    nb = np.asarray(neighbours(cells.astype(np.uint64), depth)).astype(np.int64)
    nb[nb >= 12 * 4 ** depth] = -1
    return nb


class CatalogueIndex:
    """The catalogue sorted by HEALPix cell, built once per worker (see :func:`index_for`)."""

    def __init__(self, cat: Catalogue, radius_arcsec: float):
        self.radius_arcsec = float(radius_arcsec)
        self.depth = depth_for_radius(self.radius_arcsec)
        cells = cat.cells if cat.cells is not None and cat.depth == self.depth else \
            healpix_cells(cat.ra, cat.dec, self.depth)
        order = np.argsort(cells, kind="stable")
        self.cells = cells[order]
        self.ra = np.radians(cat.ra[order])
        self.dec = np.radians(cat.dec[order])
        import pyarrow as pa

        ids = cat.ids if isinstance(cat.ids, pa.Array) else pa.array(list(cat.ids), pa.string())
        self.ids = ids.take(pa.array(order))

    def id_of(self, rows):
        """The catalogue ids (Arrow strings) of index rows."""
        import pyarrow as pa

        return self.ids.take(pa.array(np.asarray(rows, dtype=np.int64)))

    def __len__(self) -> int:
        return len(self.cells)

    def match(self, ra_deg, dec_deg, chunk: int = 20_000):
        """Nearest source within the radius of each alert: (alert rows, source rows, sep arcsec)."""
        ra_deg = np.asarray(ra_deg, float)
        dec_deg = np.asarray(dec_deg, float)
        ok = np.flatnonzero(np.isfinite(ra_deg) & np.isfinite(dec_deg))
        parts = [self._match(ra_deg, dec_deg, ok[i:i + chunk]) for i in range(0, max(ok.size, 1), chunk)]
        return tuple(np.concatenate([p[k] for p in parts]) for k in range(3))

    def _match(self, ra_deg, dec_deg, ok):
        from astropy.coordinates import angular_separation

        empty = (np.empty(0, np.int64), np.empty(0, np.int64), np.empty(0, float))
        if ok.size == 0 or len(self) == 0:
            return empty
        nb = neighbourhoods(healpix_cells(ra_deg[ok], dec_deg[ok], self.depth), self.depth).ravel()
        lo = np.searchsorted(self.cells, nb, "left")
        hi = np.searchsorted(self.cells, nb, "right")
        counts = np.where(nb >= 0, hi - lo, 0)
        total = int(counts.sum())
        if total == 0:
            return empty
        slot = np.repeat(np.arange(nb.size), counts)
        starts = np.cumsum(counts) - counts
        src = lo[slot] + (np.arange(total) - starts[slot])
        alert = ok[slot // 9]
        sep = np.degrees(angular_separation(np.radians(ra_deg[alert]), np.radians(dec_deg[alert]),
                                            self.ra[src], self.dec[src])) * 3600.0
        near = sep <= self.radius_arcsec
        alert, src, sep = alert[near], src[near], sep[near]
        if alert.size == 0:
            return empty
        order = np.lexsort((src, sep, alert))  # by alert, then nearest, then catalogue order
        alert, src, sep = alert[order], src[order], sep[order]
        first = np.concatenate(([True], alert[1:] != alert[:-1]))
        return alert[first], src[first], sep[first]

    def covered_cells(self, depth: int) -> np.ndarray:
        """Cells at ``depth`` (coarser than the index) within reach of a source: sorted unique."""
        cells = np.unique(self.cells >> (2 * (self.depth - depth))) if depth <= self.depth else \
            np.unique(healpix_cells(np.degrees(self.ra), np.degrees(self.dec), depth))
        return np.unique(np.concatenate([neighbourhoods(cells, depth).ravel(), cells]))


@functools.lru_cache(maxsize=4)
def _cached_index(path: str, mtime: float, ra: str, dec: str, id: str, radius_arcsec: float):  # noqa: A002
    cat = read_stored(path) if path.endswith(STORED_NAME) else load_catalogue(path, ra, dec, id)
    return CatalogueIndex(cat, radius_arcsec)


def forget_indexes() -> None:
    """Free the cached indexes (a 1M-row catalogue is ~230 MB; the job's driver needs none)."""
    _cached_index.cache_clear()


def index_for(options: dict) -> CatalogueIndex:
    """The index of the options' catalogue, built once per process and file (workers, app reruns)."""
    path = str(options["path"])
    try:
        mtime = os.stat(path).st_mtime
    except OSError:
        if path.endswith(STORED_NAME):
            raise UserError(f"the job's catalogue {path} is gone (expired?): submit the job again") from None
        raise UserError(f"catalogue {path} does not exist") from None
    return _cached_index(path, mtime, options["ra"], options["dec"], options["id"], float(options["radius_arcsec"]))


# ------------------------------------------------------------------------------ per batch

def positions(batch, survey: str):
    """(ra, dec) float arrays of a batch's alerts (NaN where missing)."""
    import pyarrow.compute as pc

    struct, ra, dec = position_fields(survey)
    col = batch.column(struct)

    def values(name):
        arr = pc.struct_field(col, name) if hasattr(pc, "struct_field") else col.field(name)
        return np.asarray(pc.fill_null(arr.cast("double"), float("nan")), dtype=float)

    return values(ra), values(dec)


def match_batch(batch, survey: str, options: dict):
    """The rows of ``batch`` near a catalogue source, with ``xmatch_id`` and ``xmatch_sep_arcsec``."""
    import pyarrow as pa

    index = index_for(options)
    ra, dec = positions(batch, survey)
    rows, src, sep = index.match(ra, dec)
    out = batch.take(pa.array(rows, pa.int64()))
    out = out.append_column(ID_COLUMN, index.id_of(src).cast(pa.string()))
    return out.append_column(SEP_COLUMN, pa.array(sep, pa.float64()))


def match_positions(batches, options: dict):
    """Arrow batches of positions only (``ra``, ``dec`` doubles) -> batches of the matched ones, with
    ``xmatch_id`` and ``xmatch_sep_arcsec`` (the Spark engine's first pass, see engine.job.spark_job).

    Why positions only: moving full alert rows from the JVM to Python cost more than the match
    itself; the engine joins these few rows back to the alerts by position in the JVM.
    """
    import pyarrow as pa

    schema = pa.schema([("ra", pa.float64()), ("dec", pa.float64()), (ID_COLUMN, pa.string()),
                        (SEP_COLUMN, pa.float64())])

    def matched(chunk):
        index = index_for(options)
        ra = np.concatenate([np.asarray(b.column(0).fill_null(float("nan")), dtype=float) for b in chunk])
        dec = np.concatenate([np.asarray(b.column(1).fill_null(float("nan")), dtype=float) for b in chunk])
        rows, src, sep = index.match(ra, dec)
        return pa.RecordBatch.from_arrays([pa.array(ra[rows]), pa.array(dec[rows]), index.id_of(src).cast(pa.string()),
                                           pa.array(sep, pa.float64())], schema=schema)

    chunk, rows = [], 0
    for batch in batches:  # matched CHUNK_ROWS at a time: Spark's Arrow batches are small (2 000 rows)
        chunk.append(batch)
        rows += batch.num_rows
        if rows >= CHUNK_ROWS:
            yield matched(chunk)
            chunk, rows = [], 0
    if rows:
        yield matched(chunk)


def output_fields(options) -> list:
    import pyarrow as pa

    if not options:
        return []
    return [pa.field(ID_COLUMN, pa.string()), pa.field(SEP_COLUMN, pa.float64())]


# ------------------------------------------------------------------------------ job storage

def attach_to_job(directory, spec: dict) -> dict:
    """Copy the spec's catalogue into the job directory (compact Parquet); the spec now points there."""
    options = check_options(spec.get("xmatch"))
    if not options or str(options["path"]).endswith(STORED_NAME) and \
            Path(options["path"]).parent == Path(directory):
        return spec
    cat = load_catalogue(options["path"], options["ra"], options["dec"], options["id"])
    stored = store_catalogue(cat, Path(directory) / STORED_NAME, options["radius_arcsec"])
    return {**spec, "xmatch": {**options, "path": str(stored), "ra": "ra", "dec": "dec", "id": "id"}}


def save_upload(settings, user, name: str, data: bytes) -> Path:
    """Keep an uploaded catalogue where the engine can read it: ``<data_dir>/uploads/`` in local
    mode, the user's own ``uploads/`` in service mode; content-addressed, so re-uploads are free.

    The name must be a plain file name (``engine.access.confine_name``).
    """
    import hashlib

    from engine.access import confine, confine_name

    name = confine_name(name)
    folder = confine(settings, user, "uploads") if user is not None else Path(settings.data_dir) / "uploads"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{hashlib.sha1(data).hexdigest()[:16]}_{name}"
    if not path.exists():
        path.write_bytes(data)
    return path


def store_with_job(settings, job_id: str) -> None:
    """After ``create_job``: keep the catalogue in the job directory and point spec.yaml at it.

    Also deletes the catalogues of expired jobs, so stored files never outlive their topics.
    """
    import yaml

    from engine.fileio import write_text_atomic
    from engine.job.store import job_dir, read_spec

    purge_expired(settings)
    spec = read_spec(settings, job_id)
    if not spec.get("xmatch"):
        return
    directory = job_dir(settings, job_id)
    write_text_atomic(directory / "spec.yaml", yaml.safe_dump(attach_to_job(directory, spec), sort_keys=False))


def purge_expired(settings, now: float | None = None) -> list[Path]:
    """Delete the stored catalogues of jobs whose topic has expired (kafka.retention_days)."""
    import json

    now = time.time() if now is None else now
    limit = float(settings.kafka.retention_days) * 86400.0
    removed = []
    root = Path(settings.jobs_dir)
    for stored in root.glob(f"*/{STORED_NAME}") if root.is_dir() else []:
        try:
            created = json.loads((stored.parent / "status.json").read_text()).get("created") or 0
        except (OSError, ValueError):
            continue
        if now - float(created) > limit:
            stored.unlink(missing_ok=True)
            removed.append(stored)
    return removed


# ------------------------------------------------------------------------------ archive footprint

@functools.lru_cache(maxsize=256)
def night_footprint(archive_dir: str, survey: str, night: str, mtime: float = 0.0):
    """(sorted cells at FOOTPRINT_DEPTH, alert counts) of one night's alert positions."""
    import datetime as dt

    import duckdb

    from engine.archive.reader import duckdb_view

    struct, ra, dec = position_fields(survey)
    con = duckdb.connect()
    try:
        con.execute("SET threads TO 2")
        duckdb_view(con, archive_dir, [dt.date.fromisoformat(night)], name="alerts")
        table = con.sql(f'SELECT "{struct}"."{ra}" AS ra, "{struct}"."{dec}" AS dec FROM alerts '
                        f'WHERE "{struct}"."{ra}" IS NOT NULL AND "{struct}"."{dec}" IS NOT NULL').fetchnumpy()
    finally:
        con.close()
    if len(table["ra"]) == 0:
        return np.empty(0, np.int64), np.empty(0, np.int64)
    cells = healpix_cells(np.asarray(table["ra"], float), np.asarray(table["dec"], float), FOOTPRINT_DEPTH)
    return np.unique(cells, return_counts=True)


def footprint_fractions(archive_dir, survey: str, nights, options: dict) -> dict[str, float]:
    """Per night: share of its alerts lying in HEALPix cells the catalogue reaches (an upper bound)."""
    index = index_for(options)
    depth = min(FOOTPRINT_DEPTH, index.depth)
    covered = index.covered_cells(depth)
    out = {}
    for night in nights:
        cells, counts = night_footprint(str(archive_dir), survey, str(night))
        if counts.sum() == 0:
            out[str(night)] = 0.0
            continue
        coarse = cells >> (2 * (FOOTPRINT_DEPTH - depth))
        inside = np.isin(coarse, covered)
        out[str(night)] = float(counts[inside].sum() / counts.sum())
    return out


def check_overlap(archive_dir, survey: str, nights, options: dict) -> None:
    """A one-line error when no catalogue source can reach an alert of the selected nights."""
    fractions = footprint_fractions(archive_dir, survey, nights, options)
    if not any(fractions.values()):
        raise UserError(f"the catalogue overlaps no alert position of the selected nights "
                        f"({len(fractions)} night(s)): check its RA/Dec columns and units")
