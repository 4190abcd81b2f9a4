"""Where the synthetic sources sit on the sky, per class family and survey footprint.

Why: real alert positions are not uniform: stars (variables, microlensing) crowd the Galactic
plane, extragalactic transients and AGN avoid it (extinction, confusion), asteroids follow the
ecliptic, and each survey sees only its footprint (ZTF from Palomar: Dec > -30 deg; the LSST
wide-fast-deep southern sky, which ELASTICC simulates). The frame rotations come from astropy,
computed once; sources are then rotated with numpy, per batch of new sources, never per alert.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from engine.archive.objects import SSO, STELLAR

ZTF_DEC = (-30.0, 90.0)
LSST_DEC = (-75.0, 12.0)
DISC_FRACTION = 0.6        # stellar sources drawn from a thin disc (rest: uniform on the sphere)
DISC_SCALE_DEG = 10.0      # Laplace scale of the disc latitude
EG_AVOID_DEG = 12.0        # extragalactic sources mostly avoid |b| < 12 deg
ECLIPTIC_SIGMA_DEG = 8.0   # asteroids: ecliptic latitude spread


@lru_cache(maxsize=None)
def _to_icrs(frame: str) -> np.ndarray:
    """3x3 rotation from a frame's cartesian axes to ICRS, computed once with astropy."""
    from astropy import units as u
    from astropy.coordinates import SkyCoord

    lon, lat = np.array([0.0, 90.0, 0.0]), np.array([0.0, 0.0, 90.0])
    if frame == "galactic":
        c = SkyCoord(l=lon * u.deg, b=lat * u.deg, frame="galactic").icrs
    else:
        c = SkyCoord(lon=lon * u.deg, lat=lat * u.deg, frame=frame).icrs
    return np.asarray(c.cartesian.xyz.value)  # columns: images of the x, y, z axes


def _rotate(lon: np.ndarray, lat: np.ndarray, frame: str) -> tuple[np.ndarray, np.ndarray]:
    lo, la = np.radians(lon), np.radians(lat)
    xyz = np.stack([np.cos(la) * np.cos(lo), np.cos(la) * np.sin(lo), np.sin(la)])
    x, y, z = _to_icrs(frame) @ xyz
    return np.degrees(np.arctan2(y, x)) % 360.0, np.degrees(np.arcsin(np.clip(z, -1, 1)))


def draw(rng, kinds: np.ndarray, dec_range: tuple[float, float]) -> tuple[np.ndarray, np.ndarray]:
    """(ra, dec) in degrees for sources of these kinds, inside the footprint ``dec_range``."""
    n = len(kinds)
    ra, dec = np.zeros(n), np.zeros(n)
    todo = np.arange(n)
    while todo.size:
        k = kinds[todo]
        m = len(todo)
        lon = rng.uniform(0, 360, m)
        lat = np.degrees(np.arcsin(rng.uniform(-1, 1, m)))
        stellar = np.isin(k, STELLAR)
        disc = stellar & (rng.random(m) < DISC_FRACTION)
        lat[disc] = np.clip(rng.laplace(0, DISC_SCALE_DEG, int(disc.sum())), -89.9, 89.9)
        sso = k == SSO
        lat[sso] = np.clip(rng.normal(0, ECLIPTIC_SIGMA_DEG, int(sso.sum())), -89.9, 89.9)
        keep = ~(~stellar & ~sso & (np.abs(lat) < EG_AVOID_DEG) & (rng.random(m) < 0.85))
        r, d = _rotate(lon, lat, "galactic")
        if sso.any():
            r[sso], d[sso] = _rotate(lon[sso], lat[sso], "barycentricmeanecliptic")
        ok = keep & (d > dec_range[0]) & (d < dec_range[1])
        ra[todo[ok]], dec[todo[ok]] = r[ok], d[ok]
        todo = todo[~ok]
    return ra, dec


def galactic_latitude(ra: np.ndarray, dec: np.ndarray) -> np.ndarray:
    """|b| in degrees (tests and docs)."""
    from astropy import units as u
    from astropy.coordinates import SkyCoord

    return np.abs(SkyCoord(ra=np.asarray(ra) * u.deg, dec=np.asarray(dec) * u.deg, frame="icrs").galactic.b.deg)
