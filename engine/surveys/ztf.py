"""ZTF: schema eras of Fink's lake, contents, classification (finkclass/tnsclass), generator hooks.

Eras: the Fink added-value columns changed over time (2019-2021 ``mulens`` is a struct, 2022
adds Gaia/GCVS/VSX, 2023 adds blazar/host/anomaly/features); every era is conformed to one
unified schema at read time. The ZTF part is identical in Arrow terms for ZTF 3.3 and 4.02.
Contents follow the real portal (research/lsst_transfer.md section 2 and fink.md 6.5).
"""

from __future__ import annotations

import datetime as dt

import pyarrow as pa

from engine.surveys import OutputColumn, Survey, content_table, flat, without

ERAS = ("2019-2021", "2022", "2023+")

MULENS_STRUCT = pa.struct([("class_1", pa.string()), ("ml_score_1", pa.float64()),
                           ("class_2", pa.string()), ("ml_score_2", pa.float64())])
LC_FEATURE_NAMES = (
    "mean", "weighted_mean", "standard_deviation", "median", "amplitude", "beyond_1_std", "cusum",
    "inter_percentile_range_10", "kurtosis", "linear_trend", "linear_trend_sigma",
    "linear_trend_noise", "linear_fit_slope", "linear_fit_slope_sigma", "linear_fit_reduced_chi2",
    "magnitude_percentage_ratio_40_5", "magnitude_percentage_ratio_20_10", "maximum_slope",
    "median_absolute_deviation", "median_buffer_range_percentage_10", "percent_amplitude",
    "mean_variance", "anderson_darling_normal", "chi2", "skew", "stetson_K",
)
LC_FEATURES = pa.struct([(n, pa.float64()) for n in LC_FEATURE_NAMES])
MANGROVE = pa.map_(pa.string(), pa.string())
T2 = pa.map_(pa.string(), pa.float32())
CUTOUT_COLUMNS = ("cutoutScience", "cutoutTemplate", "cutoutDifference")

# Column order as in the real lake files of each era (data.md section 2).
_FINK_OLD = [
    ("timestamp", pa.timestamp("us")), ("cdsxmatch", pa.string()), ("rf_snia_vs_nonia", pa.float64()),
    ("snn_snia_vs_nonia", pa.float64()), ("snn_sn_vs_all", pa.float64()), ("mulens", MULENS_STRUCT),
    ("roid", pa.int32()), ("nalerthist", pa.int32()), ("rf_kn_vs_nonkn", pa.float64()),
    ("fink_broker_version", pa.string()), ("fink_science_version", pa.string()), ("tracklet", pa.string()),
]
_GAIA = [("DR3Name", pa.string()), ("Plx", pa.float32()), ("e_Plx", pa.float32()),
         ("gcvs", pa.string()), ("vsx", pa.string())]
_BLAZAR_HOST = [("x3hsp", pa.string()), ("x4lac", pa.string()), ("mangrove", MANGROVE)]
_SCORES = [("roid", pa.int32()), ("rf_snia_vs_nonia", pa.float64()), ("snn_snia_vs_nonia", pa.float64()),
           ("snn_sn_vs_all", pa.float64()), ("mulens", pa.float64()), ("nalerthist", pa.int32()),
           ("rf_kn_vs_nonkn", pa.float64())]
_TAIL = [("fink_broker_version", pa.string()), ("fink_science_version", pa.string()), ("tracklet", pa.string())]

# ZTF 4.02 is announced by live alerts from mid-October 2023 (data.md section 1.1).
ZTF_402_FROM = dt.date(2023, 10, 16)

# ---------------------------------------------------------------------------- content
LIGHTCURVE_CANDIDATE = ("magpsf", "sigmapsf", "fid", "jd", "ra", "dec")
CUTOUT_CANDIDATE = ("magpsf", "ra", "dec", "jd")
# Light packet of the current portal (ZJOB L522-558): these candidate fields flat, then every root
# column except the cutouts, candidate, prv_candidates and the partition columns.
LIGHT_CANDIDATE = ("magpsf", "sigmapsf", "fid", "jd", "ra", "dec", "ssnamenr")
LIGHT_DROPS = ("cutoutScience", "cutoutTemplate", "cutoutDifference", "candidate", "prv_candidates",
               "year", "month", "day")
# COLS_FINK of the 2023 job: appended when present in the archive schema.
COLS_FINK = ("finkclass", "tnsclass", "cdsxmatch", "roid", "mulens", "DR3Name", "Plx", "e_Plx", "gcvs",
             "vsx", "snn_snia_vs_nonia", "snn_sn_vs_all", "rf_snia_vs_nonia", "rf_kn_vs_nonkn",
             "tracklet", "x4lac", "x3hsp", "mangrove", "t2", "anomaly_score", "lc_features_g",
             "lc_features_r")
CLASS_FIELDS = (pa.field("finkclass", pa.string()), pa.field("tnsclass", pa.string()))
# Inputs of engine.classification (finkclass from the Fink scores, tnsclass from candidate ra/dec).
CLASSIFICATION_INPUTS = ("candidate", "cdsxmatch", "roid", "mulens", "snn_snia_vs_nonia",
                         "snn_sn_vs_all", "rf_snia_vs_nonia", "rf_kn_vs_nonkn", "tracklet")
# The ``candidate`` fields engine.classification reads (finkclass rules + TNS cross-match).
CLASSIFICATION_CANDIDATE = ("ndethist", "drb", "classtar", "jd", "jdstarthist", "ra", "dec")


def fink_columns(era: str) -> list[tuple[str, pa.DataType]]:
    """Fink added-value columns (and timestamp) of one ZTF era, in lake order."""
    if era == "2019-2021":
        return list(_FINK_OLD)
    head = [("timestamp", pa.timestamp("us")), ("cdsxmatch", pa.string())]
    if era == "2022":
        return head + _GAIA + _SCORES + _TAIL
    if era == "2023+":
        return (head + _GAIA + _BLAZAR_HOST + _SCORES
                + [("anomaly_score", pa.float64()), ("lc_features_g", LC_FEATURES), ("lc_features_r", LC_FEATURES)]
                + _TAIL)
    raise ValueError(f"unknown ZTF era {era!r}")


def ztf_schemavsn(night: dt.date) -> str:
    return "4.02" if night >= ZTF_402_FROM else "3.3"


def _alert_fields() -> list[pa.Field]:
    from engine.schemas import alert_arrow_schema

    return [f for f in alert_arrow_schema("ztf", "v3.3") if f.name != "fp_hists"]


class Ztf(Survey):
    name = "ztf"
    label = "ZTF"
    eras = ERAS
    contents = content_table(("lightcurve", "Lightcurve (~1.4 KB/alert)", 1_400),
                             ("cutouts", "Cutouts (~41 KB/alert)", 41_000), ("full", "Full packet (~55 KB/alert)", 55_000),
                             ("medium", "Medium packet: all but cutouts (~18 KB/alert)", 18_000),
                             ("light", "Light packet (~1.4 KB/alert)", 1_400))
    default_content = "lightcurve"
    content_aliases = {"light curve": "lightcurve", "cutout": "cutouts"}
    classification_inputs = CLASSIFICATION_INPUTS
    classification_fields = CLASS_FIELDS
    partitionings = ("finkclass", "tnsclass", "time", "none")
    marker_columns = ("candidate",)
    example_conditions = "candidate.magpsf < 19.5\ncandidate.drb > 0.8"
    # Demo nights straddle the 2021 -> 2022 schema change (so the era warning can be seen).
    demo_start = "2021-12-20"
    first_night = dt.date(2019, 1, 1)
    position_path = (("candidate", "ra"), ("candidate", "dec"))
    time_path = ("candidate", "jd")
    alert_id_path = ("candid",)
    object_id_paths = (("objectId",),)
    class_columns = ("finkclass", "tnsclass")
    needs_stamp_bank = True
    custom_required = ("candidate", "jd")
    explore_columns = {"object_id": ("objectId",), "cls": ("finkclass",), "value": ("magpsf",),
                       "error": ("sigmapsf",), "band": ("fid",), "history": ("prv_candidates",)}
    explore_structs = ("candidate",)
    explore_magnitudes = True
    band_labels = {1: "g", 2: "r", 3: "i"}

    def era_of(self, night: dt.date) -> str:
        if night.year <= 2021:
            return "2019-2021"
        if night.year == 2022:
            return "2022"
        return "2023+"

    def era_arrow_schema(self, era: str) -> pa.Schema:
        alert = _alert_fields()
        if era == "2019-2021":  # candid first, as in the fink 1.3 lake files
            alert = [alert[3]] + alert[:3] + alert[4:]
        return pa.schema(alert + [pa.field(n, t) for n, t in fink_columns(era)])

    def unified_arrow_schema(self) -> pa.Schema:
        """The ZTF alert fields, then every Fink column any era had (plus ``t2``, present in
        real 2023 lake files), ``mulens`` as double."""
        fink = fink_columns("2023+")
        at = [n for n, _ in fink].index("anomaly_score")
        fink = fink[:at] + [("t2", T2)] + fink[at:]
        return pa.schema(_alert_fields() + [pa.field(n, t) for n, t in fink])

    def output_columns(self, content: str, unified: pa.Schema) -> list[OutputColumn]:
        if content in ("full", "medium", "light"):
            cols = super().output_columns(content, unified)
            cols += [OutputColumn(f, (f.name,)) for f in CLASS_FIELDS if f.name not in unified.names]
            if content == "medium":
                return without(cols, ("cutout*",))
            if content == "light":
                return flat(unified, "candidate", LIGHT_CANDIDATE) + without(cols, LIGHT_DROPS)
            return cols
        cand = unified.field("candidate").type
        picks = LIGHTCURVE_CANDIDATE if content == "lightcurve" else CUTOUT_CANDIDATE
        cols = [OutputColumn(unified.field(n), (n,)) for n in ("objectId", "candid")]
        cols += [OutputColumn(pa.field(n, cand.field(n).type), ("candidate", n)) for n in picks]
        if content == "cutouts":
            cols += [OutputColumn(unified.field(c), (c,)) for c in CUTOUT_COLUMNS]
        available = {f.name: f for f in list(unified) + list(CLASS_FIELDS)}
        cols += [OutputColumn(available[c], (c,)) for c in COLS_FINK if c in available]
        return cols

    def candidate_fields_needed(self, content: str):
        if content in ("full", "medium"):
            return None
        if content == "light":
            return tuple(dict.fromkeys(LIGHT_CANDIDATE + CLASSIFICATION_CANDIDATE))
        picks = LIGHTCURVE_CANDIDATE if content == "lightcurve" else CUTOUT_CANDIDATE
        return tuple(dict.fromkeys(picks + CLASSIFICATION_CANDIDATE))

    def classify(self, batch, tns):
        from engine.classification import classify_batch

        return classify_batch(batch, tns)

    def filters(self):
        from engine.surveys.ztf_filters import catalog

        return catalog()

    def class_options(self):
        from engine import taxonomy

        return {
            "Fink": [taxonomy.ALL_CLASSES] + list(taxonomy.FINK_CLASSES),
            "SIMBAD": [taxonomy.SIMBAD_PREFIX + lb for lb in taxonomy.simbad_labels()],
            "TNS": [taxonomy.TNS_PREFIX + t for t in taxonomy.tns_types()],
        }

    def split_class_selection(self, labels):
        from engine import taxonomy
        from engine.errors import UserError

        if not labels or taxonomy.ALL_CLASSES in labels:
            return None
        fink, tns = [], []
        for lb in labels:
            if lb.startswith(taxonomy.TNS_PREFIX):
                if lb[len(taxonomy.TNS_PREFIX):] not in taxonomy.tns_types():
                    raise UserError(f"unknown TNS class {lb!r}")
                tns.append(lb)
            elif lb.startswith(taxonomy.SIMBAD_PREFIX):
                fink.append(lb[len(taxonomy.SIMBAD_PREFIX):])
            elif lb in taxonomy.FINK_CLASSES or lb in taxonomy.simbad_labels():
                fink.append(lb)
            else:
                raise UserError(f"unknown class {lb!r}: use a Fink class, '(SIMBAD) x', '(TNS) x' or allclasses")
        return sorted(set(fink)), sorted(set(tns))

    def population(self, seed: int):
        from engine.archive.generator import ztf_population

        return ztf_population(seed)

    def night_generator(self, night, seed, population, bank):
        from engine.archive.generator import ZtfNight

        return ZtfNight(night, seed, bank, population)

    def sample_batches(self, era: str):
        from engine.archive.generator import sample_file_batches

        files = {"2019-2021": "ztf_lake_2021-11-22_fink1.3.parquet", "2023+": "ztf_transfer_2026-03-22.parquet"}
        return sample_file_batches(self, era, files.get(era))


SURVEY = Ztf()
