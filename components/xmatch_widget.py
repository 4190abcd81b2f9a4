"""Query page inputs for the cross-match (upload, column pickers, radius) and the data-set options.

Layout only: reading and validating the catalogue is ``engine.xmatch`` (the CLI's own code). The
upload is saved under ``<data_dir>/uploads/`` (content-addressed) because the engine reads files;
at submission the job keeps its own compact copy, deleted when the topic expires.
"""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from components import widgets
from engine import dataset as ds
from engine import surveys
from engine import xmatch
from engine.errors import UserError

RA_GUESSES = ("ra", "raj2000", "ra_deg", "alpha", "ramean")
DEC_GUESSES = ("dec", "decl", "dej2000", "dec_deg", "delta", "decmean")
ID_GUESSES = ("id", "name", "objectid", "source_id", "target")


@st.cache_data(max_entries=8, show_spinner=False)
def _preview(path: str, size: int):
    return xmatch.preview(path)


def _save(settings, upload) -> Path:
    from components.session import current_user
    return xmatch.save_upload(settings, current_user(settings), upload.name, upload.getvalue())


def _guess(columns, guesses, fallback: int) -> int:
    lower = [c.lower() for c in columns]
    for g in guesses:
        if g in lower:
            return lower.index(g)
    return min(fallback, len(columns) - 1)


def xmatch_inputs(settings, survey: str) -> tuple[dict | None, bool]:
    """The spec's ``xmatch`` mapping (None = no cross-match) and whether the inputs are valid."""
    with st.container(border=True):
        st.markdown("##### 6 · Cross-match your catalogue (optional)")
        upload = st.file_uploader(
            "Catalogue: CSV (`#` comments allowed), Parquet, VOTable (.xml/.vot) or FITS table",
            type=["csv", "txt", "parquet", "xml", "vot", "fits", "fit"], key=f"xmatch_file_{survey}",
            help=f"Up to {xmatch.MAX_ROWS:,} rows; RA/Dec in degrees or sexagesimal. Only alerts within the "
                 "radius of a source are kept, with its id (xmatch_id) and the separation (xmatch_sep_arcsec).")
        if upload is None:
            st.caption("No catalogue: every alert of the selection is kept.")
            return None, True
        try:
            path = _save(settings, upload)
            columns, head, rows = _preview(str(path), path.stat().st_size)
        except UserError as exc:
            widgets.show_user_error(exc)
            return None, False
        st.progress(min(1.0, rows / xmatch.MAX_ROWS), text=f"{rows:,} of {xmatch.MAX_ROWS:,} rows")
        if head is not None:
            st.dataframe(head, hide_index=True, height=180, width="stretch")
        c1, c2, c3, c4 = st.columns(4)
        ra = c1.selectbox("RA column", columns, index=_guess(columns, RA_GUESSES, 1), key=f"xmatch_ra_{survey}")
        dec = c2.selectbox("Dec column", columns, index=_guess(columns, DEC_GUESSES, 2), key=f"xmatch_dec_{survey}")
        ident = c3.selectbox("Id column", columns, index=_guess(columns, ID_GUESSES, 0), key=f"xmatch_id_{survey}")
        radius = c4.number_input("Radius (arcsec)", min_value=0.01, max_value=xmatch.MAX_RADIUS_ARCSEC, value=2.0,
                                 step=0.5, key=f"xmatch_radius_{survey}")
        options = {"path": str(path), "ra": ra, "dec": dec, "id": ident, "radius_arcsec": radius}
        try:
            xmatch.index_for(xmatch.check_options(options))  # coordinates parse, no NaN (cached)
        except UserError as exc:
            widgets.show_user_error(exc)
            return None, False
        return options, True


def dataset_inputs(survey: str) -> tuple[dict | None, bool]:
    """The spec's ``dataset`` mapping (None = plain transfer) and whether it is valid."""
    with st.expander("Data set for machine learning (optional)"):
        c1, c2 = st.columns(2)
        cap = c1.number_input("At most N alerts per class (0 = no cap)", min_value=0, value=0, step=100,
                              key=f"ds_cap_{survey}")
        column = c2.selectbox("Class column", list(surveys.get(survey).class_columns),
                              key=f"ds_class_{survey}")
        c3, c4 = st.columns(2)
        fraction = c3.slider("Sample fraction", 0.01, 1.0, 1.0, 0.01, key=f"ds_fraction_{survey}")
        seed = c4.number_input("Seed", min_value=0, value=0, step=1, key=f"ds_seed_{survey}")
        split = st.checkbox("Add a train / validation / test `split` column (by object)", key=f"ds_split_{survey}")
        options: dict = {"seed": int(seed)}
        if cap:
            options.update(max_per_class=int(cap), class_column=column)
        if fraction < 1:
            options["sample_fraction"] = float(fraction)
        if split:
            s1, s2, s3 = st.columns(3)
            options["split"] = {"train": s1.number_input("train", 0.0, 1.0, 0.8, 0.05, key=f"ds_tr_{survey}"),
                                "validation": s2.number_input("validation", 0.0, 1.0, 0.1, 0.05,
                                                              key=f"ds_va_{survey}"),
                                "test": s3.number_input("test", 0.0, 1.0, 0.1, 0.05, key=f"ds_te_{survey}")}
        try:
            return ds.check_options(options), True
        except UserError as exc:
            widgets.show_user_error(exc)
            return None, False
