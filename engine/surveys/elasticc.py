"""ELAsTiCC: one schema (v0_9 alert + Fink broker columns), full packet only, classId as class."""

from __future__ import annotations

import pyarrow as pa

from engine.surveys import Survey, content_table

BROKER_COLUMNS = [pa.field("brokerIngestTimestamp", pa.timestamp("us")),
                  pa.field("timestamp", pa.timestamp("us")), pa.field("classId", pa.int32())]


class Elasticc(Survey):
    name = "elasticc"
    label = "ELAsTiCC"
    eras = ("v0_9",)
    contents = content_table(("full", "Full packet (~1.4 KB/alert)", 1_400))
    default_content = "full"
    classification_inputs = ("classId",)
    partitionings = ("classId", "time", "none")
    marker_columns = ("diaSource", "classId")
    example_conditions = "diaSource.psFlux > 0\ndiaSource.snr > 5"
    demo_start = "2023-11-27"  # the challenge period
    position_path = (("diaSource", "ra"), ("diaSource", "decl"))
    time_path = ("diaSource", "midPointTai")
    alert_id_path = ("alertId",)
    object_id_paths = (("diaObject", "diaObjectId"),)
    class_columns = ("classId",)
    time_unit = "mjd"
    explore_columns = {"object_id": ("diaObjectId",), "cls": ("classId",), "value": ("psFlux",),
                       "error": ("psFluxErr",), "band": ("filterName",), "history": ("prvDiaSources",)}
    explore_structs = ("diaSource", "diaObject")

    def era_arrow_schema(self, era: str) -> pa.Schema:
        from engine.schemas import alert_arrow_schema

        return pa.schema(list(alert_arrow_schema("elasticc", "v0_9")) + BROKER_COLUMNS)

    def classify(self, batch, tns):
        from engine.classification import classify_batch

        return classify_batch(batch, tns)  # finkclass = classId as a string

    def class_options(self):
        from engine import taxonomy

        return {"ELASTICC": [taxonomy.ALL_CLASSES] + [f"{cid}: {name}" for cid, name
                                                      in sorted(taxonomy.ELASTICC_V1_NAMES.items())]}

    def split_class_selection(self, labels):
        from engine import taxonomy
        from engine.errors import UserError

        if not labels or taxonomy.ALL_CLASSES in labels:
            return None
        fink = []
        for lb in labels:
            cid = lb.split(":", 1)[0].strip()
            if not cid.lstrip("-").isdigit():
                raise UserError(f"unknown ELASTICC class {lb!r}: use a classId such as 111")
            fink.append(str(int(cid)))
        return sorted(set(fink)), []

    def demo_plan(self, nights: int, per_night: int):
        return min(nights, 10), max(100, per_night // 4)

    def population(self, seed: int):
        from engine.archive.generator import elasticc_population

        return elasticc_population(seed)

    def night_generator(self, night, seed, population, bank):
        from engine.archive.generator import ElasticcNight

        return ElasticcNight(night, seed, population)

    def sample_batches(self, era: str):
        from engine.archive.generator import sample_file_batches

        return sample_file_batches(self, era, "elasticc_sample_seed0.parquet")


SURVEY = Elasticc()
