"""Topic names of the fink wire protocol (as astrolabsoftware/fink-client reads them: ``ftransfer_<survey>_<date>_<n>``)."""

from __future__ import annotations

import re
from datetime import datetime, timezone

TOPIC_PREFIX = "ftransfer_"
_NAME_RE = re.compile(r"^ftransfer_(?P<survey>[a-z0-9]+(?:_v[0-9p]+)?)_(?P<date>\d{4}-\d{2}-\d{2})_(?P<n>\d+)$")


TOPIC_SUFFIX_BITS = 63  # ~19 random digits: topic names cannot be guessed or enumerated


def new_topic_name(survey: str, now: datetime | None = None) -> str:
    """``ftransfer_<survey>_<YYYY-MM-DD>_<n>``, the real portal's shape, with ``n`` a wide random
    number (the portal uses the microsecond, which anyone can enumerate)."""
    import secrets

    now = now or datetime.now(timezone.utc)
    return f"{TOPIC_PREFIX}{survey}_{now:%Y-%m-%d}_{secrets.randbits(TOPIC_SUFFIX_BITS)}"


def schema_topic(topic: str) -> str:
    return f"{topic}_schema"


def manifest_topic(topic: str) -> str:
    return f"{topic}_manifest"


def is_side_topic(name: str) -> bool:
    return name.endswith("_schema") or name.endswith("_manifest")


def parse_topic_name(topic: str) -> dict | None:
    """Survey and creation date of a transfer topic, or None for a foreign name."""
    match = _NAME_RE.match(topic)
    if not match:
        return None
    return {"survey": match["survey"], "date": match["date"], "n": int(match["n"])}


def client_command(topic: str, survey: str, outdir: str | None = None) -> str:
    """The download command shown to users: valid for our fink_datatransfer and the official one.

    The partitioning is the survey's first (ZTF finkclass, ELASTICC classId, as on the portals).
    """
    from engine import surveys

    name = survey.split("_v", 1)[0]
    part = surveys.get(name).partitionings[0] if name in surveys.NAMES else "none"
    return f"fink_datatransfer -topic {topic} -outdir {outdir or topic} -partitionby {part} --verbose"
