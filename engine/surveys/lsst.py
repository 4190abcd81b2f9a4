"""Rubin/LSST: schema lsst.v10_0 + Fink's sections, presets, TNS recompute, generator hooks.

Facts from research/lsst_transfer.md (the real portal, job and client): the lake is the Rubin
alert plus Fink's root columns and sections (``clf``, ``xm``, ``pred``, ``misc``,
``lc_features``); the job adds ``tns_type_recomputed`` (nearest TNS entry within 1.5 arcsec,
else "Unknown"); the client partitions LSST only by ``time`` (``midpointMjdTai``).
"""

from __future__ import annotations

import datetime as dt

import pyarrow as pa

from engine.surveys import OutputColumn, Survey, content_table, flat, roots, without

SCHEMA_VERSION = "v10_0"
FINK_VERSION = "fink_4_1"
TIMESTAMP_COLUMNS = ("brokerStartProcessTimestamp", "brokerEndProcessTimestamp", "timestamp")
TNS_FIELD = pa.field("tns_type_recomputed", pa.string())
# Presets of the real job (JOB L557-626, research/lsst_transfer.md section 2).
LIGHT_SOURCE = ("diaObjectId", "snr", "psfFlux", "psfFluxErr", "scienceFlux", "scienceFluxErr", "templateFlux",
                "templateFluxErr", "band", "midpointMjdTai", "ra", "dec", "reliability")
LIGHT_STATIC_DROPS = ("cutout*", "diaSource", "prvDiaSources", "prvDiaForcedSources", "diaObject", "ssSource",
                      "MPCORB", "mpc_orbits", "day", "month", "year")
VERSIONS = ("lsst_schema_version", "fink_broker_version", "fink_science_version")
SAMPLE_FILE = "lsst_transfer_2026-03-06.avro"   # 7 real full alerts (fink-client datatest, Apache-2.0)


def _fink_added() -> list[pa.Field]:
    from engine.schemas import avro_to_arrow, load_avro_schemas

    docs = load_avro_schemas("lsst", FINK_VERSION)
    rec = docs["fink.lsst.fink_added"]
    out = []
    for f in rec["fields"]:
        typ = pa.timestamp("us") if f["name"] in TIMESTAMP_COLUMNS else avro_to_arrow(f["type"], docs, "fink.lsst")
        out.append(pa.field(f["name"], typ))
    return out


class Lsst(Survey):
    name = "lsst"
    label = "Rubin/LSST"
    eras = (SCHEMA_VERSION,)
    # Sizes: the portal's medians for a static + SSO mix (DOC L102-115, April 2026).
    contents = content_table(("full", "Full packet (~137 KB/alert)", 137_000),
                             ("medium", "Medium packet: all but cutouts (~80 KB/alert)", 80_000),
                             ("light_static", "Light static packet (~1.7 KB/alert)", 1_700),
                             ("light_sso", "Light SSO packet (~1.7 KB/alert)", 1_700))
    default_content = "full"
    classification_inputs = ("diaSource",)
    classification_fields = (TNS_FIELD,)
    partitionings = ("time", "none")
    marker_columns = ("diaSource", "lsst_schema_version")
    example_conditions = "diaSource.psfFlux > 5000\ndiaSource.snr > 10"
    demo_start = "2026-03-01"
    first_night = dt.date(2025, 10, 25)   # first Rubin alerts processed by Fink
    position_path = (("diaSource", "ra"), ("diaSource", "dec"))
    time_path = ("diaSource", "midpointMjdTai")
    alert_id_path = ("diaSourceId",)
    object_id_paths = (("diaSource", "diaObjectId"), ("diaSource", "ssObjectId"))
    class_columns = ("tns_type_recomputed",)
    time_unit = "mjd"
    custom_required = ("diaSource", "midpointMjdTai")
    explore_columns = {"object_id": ("diaObjectId",), "cls": ("tns_type_recomputed",), "value": ("psfFlux",),
                       "error": ("psfFluxErr",), "band": ("band",), "history": ("prvDiaSources",)}
    explore_structs = ("diaSource", "diaObject")

    def era_arrow_schema(self, era: str) -> pa.Schema:
        from engine.schemas import alert_arrow_schema

        return pa.schema(list(alert_arrow_schema("lsst", SCHEMA_VERSION)) + _fink_added())

    def output_columns(self, content, unified):
        cols = super().output_columns(content, unified) + [OutputColumn(TNS_FIELD, (TNS_FIELD.name,))]
        if content == "medium":
            return without(cols, ("cutout*",))
        if content == "light_static":
            return flat(unified, "diaSource", LIGHT_SOURCE) + without(cols, LIGHT_STATIC_DROPS)
        if content == "light_sso":
            return (roots(unified, ("diaSourceId",))
                    + flat(unified, "ssSource", ("ssObjectId", "phaseAngle", "diaDistanceRank"))
                    + flat(unified, "diaSource", LIGHT_SOURCE[1:])
                    + flat(unified, "mpc_orbits", ("packed_primary_provisional_designation",
                                                   "unpacked_primary_provisional_designation"))
                    + roots(unified, VERSIONS))
        return cols

    def classify(self, batch, tns):
        """Append ``tns_type_recomputed``: the nearest TNS type within 1.5 arcsec, else Unknown."""
        import numpy as np
        import pyarrow.compute as pc

        from engine.classification import TNS_RADIUS_ARCSEC
        from engine.taxonomy import TNS_PREFIX

        if isinstance(batch, pa.Table):
            batch = batch.combine_chunks().to_batches()[0] if batch.num_rows else \
                pa.RecordBatch.from_pylist([], schema=batch.schema)
        n = batch.num_rows
        values = np.full(n, "Unknown", dtype=object)
        if tns is not None and len(tns) and n and "diaSource" in batch.schema.names:
            src = batch.column("diaSource")
            ra = pc.fill_null(src.field("ra"), np.nan).to_numpy(zero_copy_only=False)
            dec = pc.fill_null(src.field("dec"), np.nan).to_numpy(zero_copy_only=False)
            idx = tns.match(ra, dec, TNS_RADIUS_ARCSEC)
            hit = idx >= 0
            values[hit] = [str(x)[len(TNS_PREFIX):] for x in tns.labels[idx[hit]]]
        keep = [i for i, nm in enumerate(batch.schema.names) if nm != TNS_FIELD.name]
        return pa.RecordBatch.from_arrays([batch.column(i) for i in keep] + [pa.array(values, pa.string())],
                                          schema=pa.schema([batch.schema.field(i) for i in keep] + [TNS_FIELD]))

    def demo_plan(self, nights: int, per_night: int):
        return min(nights, 7), max(100, per_night // 4)   # LSST alerts are larger: a smaller demo

    def filters(self):
        from engine.surveys.lsst_filters import catalog

        return catalog()

    def population(self, seed: int):
        from engine.archive.lsst_night import lsst_population

        return lsst_population(seed)

    def night_generator(self, night, seed, population, bank):
        from engine.archive.lsst_night import LsstNight

        return LsstNight(night, seed, population)

    def sample_batches(self, era: str):
        """The real LSST transfer sample, back in lake form (timestamps parsed, job columns dropped)."""
        import fastavro

        from engine.archive.generator import SAMPLES_DIR

        path = SAMPLES_DIR / SAMPLE_FILE
        if not path.exists():
            return [], []
        schema = self.era_arrow_schema(era)
        with open(path, "rb") as fh:
            records = list(fastavro.reader(fh))
        rows, tns = [], []
        for r in records:
            row = {f.name: r.get(f.name) for f in schema}
            for name in TIMESTAMP_COLUMNS:
                if isinstance(row[name], str):
                    row[name] = dt.datetime.fromisoformat(row[name])
            if isinstance(row.get("lc_features"), dict):
                row["lc_features"] = list(row["lc_features"].items())
            rows.append(row)
            typ = r.get("tns_type_recomputed")
            if typ and typ != "Unknown":
                tns.append((r["diaSource"]["ra"], r["diaSource"]["dec"], typ))
        return [pa.RecordBatch.from_pylist(rows, schema=schema)], tns

    def sample_night(self) -> dt.date:
        return dt.date(2026, 3, 6)


SURVEY = Lsst()
