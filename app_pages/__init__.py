"""The Streamlit app: the router (``streamlit_app.py``) and one script per page.

A package so a wheel installs the scripts (and ``.streamlit/config.toml``, which Streamlit reads
beside its main script); ``fink-transfer app`` finds them with :func:`app_script`.
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path


def app_script() -> Path:
    """The router script ``streamlit run`` is given, wherever the package is installed."""
    return Path(str(files(__name__) / "streamlit_app.py"))
