"""Sources behind the synthetic archive: a population of objects, their brightness models, their epochs.

Why objects first: users rebuild light curves by grouping alerts on ``objectId`` and read the
history in ``prv_candidates``; both only make sense if alerts of different nights come from
the same source and the history of a later alert holds the points of the earlier ones.

How, in flat memory: an object is one row of a few numpy arrays (key, class, position, model
parameters, first detection, lifetime). Everything observed about it is a *pure function* of
``(key, night, slot)``: whether its field was observed (two exposure slots per night),
the filter, the time, the limiting magnitude, the noise, the ids. So the history of an alert
is recomputed from the object's row (the epochs of the 30 previous nights) instead of being
stored, and an alert emitted on night N1 appears, identical, in the history of the same
object's alert on night N2 > N1. Objects retire after their lifetime; new ones are created
when a night needs more alerts of a class than the active objects supply, so the population
stays proportional to the alerts per night, whatever the number of nights.

Calibration and sources: ``docs/archive.md`` ("Objects and light curves").
"""

from __future__ import annotations

import numpy as np

# --------------------------------------------------------------------------- kinds

ONEOFF, SN, KN, ML, PERIODIC, AGN, STAR, SSO = range(8)
KIND_NAMES = ("oneoff", "sn", "kn", "ml", "periodic", "agn", "star", "sso")
STELLAR = (ML, PERIODIC, STAR)

SLOTS = 2            # exposure slots per night (ZTF: a g and an r visit of the public survey)
P_OBS = 0.3          # probability that an object's field is observed in one slot (weather, cadence)
WINDOW = 30          # nights of history carried by an alert (ZTF: 30 days)
# Probability that an observed, bright-enough source gives a significant difference flux
# (variables are often close to their reference flux; transients always differ).
P_SIG = np.array([0.0, 1.0, 1.0, 1.0, 0.40, 0.35, 0.22, 1.0])  # one-offs: only their own epoch
# "Unknown" alerts come from sources that no module or catalogue labelled: one-offs (bogus,
# faint transients seen once), faint transients, variables and AGN without a SIMBAD match.
UNKNOWN_MIX = {ONEOFF: 0.50, SN: 0.10, PERIODIC: 0.20, AGN: 0.12, STAR: 0.08}

_AGN_WORDS = ("QSO", "AGN", "Seyfert", "BLLac", "Blazar", "LINER", "LensedQ")
_VAR_WORDS = ("RR", "EB", "LP", "Mira", "Cep", "PulsV", "V*", "delSct", "RSCVn", "RotV", "Orion",
              "TTau", "CV", "Nova", "Symb", "YSO", "Em*", "Be*", "Ae*", "BYDra", "Ellip", "Erupt",
              "RCrB", "gammaDor", "SX", "WVir", "Mi*", "AGB", "RedSG", "OH/IR", "S*", "C*", "WR*")


# periodic sub-families: (label words, period range in days, half-amplitude range, light-curve shape)
_FAMILIES = (("RR",), ("EB", "Ellip"), ("Mira", "LP", "AGB", "OH/IR", "C*", "S*"))
_FAMILY_PARAMS = (((0.3, 0.9), (0.3, 0.55), 1), ((0.3, 8.0), (0.2, 0.8), 2), ((80.0, 450.0), (0.6, 2.0), 0))


def kind_of_label(label: str) -> int:
    """The brightness model of a source whose alerts carry this final label; -1 = Unknown mix."""
    if label == "Unknown":
        return -1
    if label in ("SN candidate", "Early SN Ia candidate", "SLSN candidate") or label.startswith("(TNS) "):
        return SN
    if label == "Kilonova candidate":
        return KN
    if label == "Microlensing candidate":
        return ML
    if label in ("Solar System MPC", "Solar System candidate", "Ambiguous"):
        return SSO
    if label == "Tracklet":
        return ONEOFF
    if any(w in label for w in _AGN_WORDS):
        return AGN
    if label in ("SN", "Candidate_SN*", "SN*_Candidate"):
        return SN
    if any(w in label for w in _VAR_WORDS):
        return PERIODIC
    return STAR


# --------------------------------------------------------------------------- counter-based noise

_G = np.uint64(0x9E3779B97F4A7C15)
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
_S30, _S27, _S31, _S11 = (np.uint64(s) for s in (30, 27, 31, 11))

# streams of unit(): one independent draw per purpose and epoch
OBS, FID, TIME, LIM, LIM2, NOISE, NOISE2, SIG, PID, CAND, POS, POS2, POS3, POS4, DIFF, PRV = range(16)


def _mix(x: np.ndarray) -> np.ndarray:
    """splitmix64 finaliser (wrapping uint64 arithmetic)."""
    with np.errstate(over="ignore"):
        x = x + _G
        x = (x ^ (x >> _S30)) * _M1
        x = (x ^ (x >> _S27)) * _M2
        return x ^ (x >> _S31)


def hash64(key, night, slot, stream: int) -> np.ndarray:
    """A 64-bit hash of (object key, night, slot, stream): the same epoch always gives the same draws."""
    night = np.asarray(night, dtype=np.int64).astype(np.uint64)
    slot = np.asarray(slot, dtype=np.int64).astype(np.uint64)
    salt = (night << np.uint64(8)) | (slot << np.uint64(4)) | np.uint64(stream)
    return _mix(np.asarray(key, dtype=np.uint64) ^ _mix(salt))


def unit(key, night, slot, stream: int) -> np.ndarray:
    """Uniform [0, 1) per epoch."""
    return (hash64(key, night, slot, stream) >> _S11).astype(np.float64) * (1.0 / 9007199254740992.0)


def gauss(key, night, slot, stream: int) -> np.ndarray:
    """Standard normal per epoch (Box-Muller on two streams)."""
    u1 = unit(key, night, slot, stream)
    u2 = unit(key, night, slot, stream + 1)
    return np.sqrt(-2.0 * np.log1p(-u1)) * np.cos(2 * np.pi * u2)


# --------------------------------------------------------------------------- transients

def bazin_log_flux(t_rel, tau_r, tau_f) -> np.ndarray:
    """log of the Bazin flux exp(-t/tau_f) / (1 + exp(-t/tau_r)), minus its maximum (<= 0)."""
    tau_r = np.asarray(tau_r, dtype=np.float64)
    tau_f = np.maximum(np.asarray(tau_f, dtype=np.float64), tau_r * 1.5)
    x = np.log(tau_f / tau_r - 1.0)
    log_peak = -tau_r * x / tau_f - np.log1p(np.exp(-x))
    return -t_rel / tau_f - np.logaddexp(0.0, -t_rel / tau_r) - log_peak


def _bazin_offset(tau_r, tau_f, dmag) -> np.ndarray:
    """Time from the first detection to the Bazin ``t0`` such that the first point is ``dmag``
    below the peak on the rise (solved on a grid, vectorised)."""
    tau_r = np.asarray(tau_r, dtype=np.float64)[:, None]
    tau_f = np.maximum(np.asarray(tau_f, dtype=np.float64)[:, None], tau_r * 1.5)
    t_max = tau_r * np.log(tau_f / tau_r - 1.0)                     # peak time relative to t0
    before = np.linspace(0, 40, 321)[None, :] * np.maximum(tau_r / 3.0, 0.05)   # days before the peak
    faint = -2.5 / np.log(10) * bazin_log_flux(t_max - before, tau_r, tau_f)     # mag below the peak
    i = np.argmax(faint >= np.asarray(dmag)[:, None], axis=1)
    return np.take_along_axis(before, i[:, None], 1)[:, 0] - t_max[:, 0]


# --------------------------------------------------------------------------- population

FIELDS = {
    "key": np.uint64, "label": np.int16, "kind": np.int8, "shape": np.int8, "tns_sn": np.bool_, "host_gal": np.bool_,
    "ra": np.float64, "dec": np.float64, "m0": np.float32, "color": np.float32, "amp": np.float32,
    "period": np.float32, "phase": np.float32, "tpk": np.float64, "tau_r": np.float32, "tau_f": np.float32,
    "first_night": np.int32, "first_slot": np.int8, "entry_night": np.int32, "entry_slot": np.int8,
    "end_night": np.int32, "prior_ndet": np.int32, "jdstart": np.float64, "rate_ra": np.float32,
    "rate_dec": np.float32, "ssnum": np.int32,
}


class Population:
    """The active sources of one survey build (a struct of numpy arrays, one row per source).

    ``labels`` are the canonical final labels (class table keys); ``a["label"]`` indexes them.
    Rows are only appended during a night and compacted (retired rows dropped) between nights,
    so the indices a night plan holds stay valid while the night is written.
    """

    def __init__(self, labels: list[str], probs: np.ndarray, seed: int, sky, epoch_jd, kinds=None,
                 min_dec: float = -90.0, depth: float = 19.6, bands=((0.63, 0.0), (0.37, 1.0)), window: int = WINDOW):
        self.labels = list(labels)
        self.probs = np.asarray(probs, dtype=float) / np.sum(probs)
        self.label_kind = np.array(kinds if kinds is not None else [kind_of_label(lb) for lb in self.labels], dtype=np.int8)
        lab = np.array(self.labels, dtype=str)
        self.label_tns = np.char.startswith(lab, "(TNS) ")
        self.label_sn = (lab == "SN candidate") | self.label_tns        # ndethist > 1 from the first alert
        self.label_early = lab == "Early SN Ia candidate"
        self.label_tns_sn = np.char.startswith(lab, "(TNS) SN")
        self.label_unknown = lab == "Unknown"
        self.label_family = np.zeros(len(lab), np.int8)                   # periodic sub-family (0: generic)
        for code, words in enumerate(_FAMILIES, start=1):
            self.label_family[[any(w in lb for w in words) for lb in lab]] = code
        self.seed = seed
        self.sky = sky              # callable(rng, kinds) -> (ra, dec)
        self.epoch_jd = epoch_jd    # callable(night, slot, u) -> jd of the exposure
        self.min_dec = min_dec      # footprint edge (moving sources stay inside)
        self.depth = depth          # median 5-sigma limiting magnitude; source brightness scales with it
        self.band_cum = np.cumsum([b[0] for b in bands]) / sum(b[0] for b in bands)
        self.band_w = np.array([b[1] for b in bands])   # colour weight per band (0 = reference band, > 0 bluer)
        self.window = window        # nights of history an alert carries
        self.a = {name: np.zeros(0, dtype=t) for name, t in FIELDS.items()}
        self.created = 0
        self.new_rows: list[np.ndarray] = []

    def __len__(self) -> int:
        return len(self.a["key"])

    # ---- lifecycle

    def retire(self, night: int) -> None:
        keep = self.a["end_night"] >= night
        if not keep.all():
            self.a = {k: v[keep] for k, v in self.a.items()}

    def create(self, rng, label_idx: np.ndarray, night: int, slot: np.ndarray) -> np.ndarray:
        """New sources first detected (or re-entering the stream) at (night, slot); returns their rows."""
        n = len(label_idx)
        if n == 0:
            return np.zeros(0, dtype=np.int64)
        kind = self.label_kind[label_idx].astype(np.int8)
        unknown = kind < 0
        if unknown.any():
            mix_k = np.array(list(UNKNOWN_MIX), dtype=np.int8)
            mix_p = np.array(list(UNKNOWN_MIX.values()))
            kind[unknown] = rng.choice(mix_k, size=int(unknown.sum()), p=mix_p / mix_p.sum())
        key = _mix(np.uint64(self.seed) * np.uint64(1_000_003) + np.arange(self.created, self.created + n, dtype=np.uint64)
                   + np.uint64(0x5DEECE66D))
        self.created += n
        v = {name: np.zeros(n, dtype=t) for name, t in FIELDS.items()}
        v.update(key=key, label=label_idx.astype(np.int16), kind=kind, entry_night=np.full(n, night, np.int32),
                 entry_slot=slot.astype(np.int8))
        v["ra"], v["dec"] = self.sky(rng, kind)
        entry_jd = self.epoch_jd(np.full(n, night), slot, unit(key, night, slot, TIME))
        first = np.full(n, night, np.int32)
        first_slot = slot.astype(np.int8).copy()
        end = np.full(n, night + 60, np.int32)
        prior = np.zeros(n, np.int32)
        jdstart = entry_jd.copy()

        def draw_between(lo, hi, m):
            return rng.uniform(lo, hi, int(m.sum()))

        # transients: the first detection lies 1-10 nights before the entry night (so an SN
        # candidate has ndethist > 1 from its first alert); the peak follows the first detection
        tr = (kind == SN) | (kind == KN)
        sn_label = self.label_sn[label_idx]
        early = self.label_early[label_idx]
        unknown_label = self.label_unknown[label_idx]
        kn = kind == KN
        lag = rng.integers(1, 11, n)
        lag[early] = rng.integers(1, 6, int(early.sum()))
        lag[kn] = rng.integers(0, 2, int(kn.sum()))
        lag[~tr] = 0
        lag[(kind == SN) & ~(sn_label | early)] = rng.integers(0, 8, int(((kind == SN) & ~(sn_label | early)).sum()))
        first = (night - lag).astype(np.int32)
        first_slot = np.where(lag > 0, rng.integers(0, SLOTS, n), slot).astype(np.int8)
        first_jd = self.epoch_jd(first, first_slot, unit(key, first, first_slot, TIME))
        jdstart = np.where(tr, first_jd, jdstart)

        m = kind == SN
        v["m0"][m] = np.clip(rng.normal(18.5, 0.6, m.sum()), 16.0, 19.4)
        v["m0"][m & unknown_label] = np.clip(rng.normal(19.0, 0.4, (m & unknown_label).sum()), 17.5, 19.5)
        v["tau_r"][m] = draw_between(1.5, 4.0, m)
        v["tau_f"][m] = draw_between(15, 40, m)
        v["color"][m] = rng.normal(-0.05, 0.1, m.sum())
        end[m] = first[m] + np.where(early[m], 10, 85)
        m = kn
        v["m0"][m] = np.clip(rng.normal(18.8, 0.4, m.sum()), 17.5, 19.4)
        v["tau_r"][m] = 0.3
        v["tau_f"][m] = draw_between(1.0, 2.0, m)
        v["color"][m] = rng.normal(0.3, 0.1, m.sum())
        end[m] = first[m] + 3
        # the first detection is 0.5-1.3 mag below the peak, on the rise
        m = tr
        v["tpk"][m] = first_jd[m] + _bazin_offset(v["tau_r"][m], v["tau_f"][m], rng.uniform(0.5, 1.3, m.sum()))
        m = kind == ML
        v["m0"][m] = np.clip(rng.normal(18.8, 0.6, m.sum()), 16.0, 20.0)
        v["tau_f"][m] = draw_between(12, 40, m)                       # tE
        v["tau_r"][m] = draw_between(0.05, 0.4, m)                    # u0
        v["tpk"][m] = entry_jd[m] + v["tau_f"][m] * draw_between(0.2, 0.6, m)
        v["color"][m] = rng.normal(0.6, 0.2, m.sum())
        end[m] = (night + 2 * v["tau_f"][m]).astype(np.int32)
        m = kind == PERIODIC
        v["m0"][m] = np.clip(rng.normal(17.3, 1.3, m.sum()), 13.5, 19.6)
        v["period"][m] = np.exp(draw_between(np.log(0.1), np.log(60), m))
        v["amp"][m] = draw_between(0.1, 0.5, m)
        v["shape"][m] = rng.integers(0, 3, m.sum())
        family = self.label_family[label_idx]
        for code, ((plo, phi), (alo, ahi), shape) in enumerate(_FAMILY_PARAMS, start=1):
            w = m & (family == code)
            v["period"][w] = rng.uniform(plo, phi, w.sum())
            v["amp"][w] = rng.uniform(alo, ahi, w.sum())
            v["shape"][w] = shape
        v["color"][m] = rng.normal(0.5, 0.3, m.sum())
        m = kind == AGN
        v["m0"][m] = np.clip(rng.normal(18.6, 0.6, m.sum()), 15.5, 19.6)
        v["period"][m] = draw_between(60, 300, m)
        v["amp"][m] = draw_between(0.12, 0.35, m)
        v["color"][m] = rng.normal(0.2, 0.15, m.sum())
        m = kind == STAR
        v["m0"][m] = np.clip(rng.normal(16.8, 1.5, m.sum()), 13.0, 19.6)
        v["period"][m] = np.exp(draw_between(0.0, np.log(100), m))
        v["amp"][m] = draw_between(0.02, 0.08, m)
        v["color"][m] = rng.normal(0.7, 0.3, m.sum())
        persistent = np.isin(kind, [PERIODIC, AGN, STAR])
        end[persistent] = night + np.ceil(rng.lognormal(np.log(45), 0.8, persistent.sum())).astype(np.int32)
        prior[persistent] = np.maximum(0, rng.lognormal(np.log(150), 1.2, persistent.sum())).astype(np.int32)
        jdstart[persistent] = entry_jd[persistent] - rng.uniform(30, 1500, persistent.sum())
        m = kind == SSO
        v["m0"][m] = np.clip(rng.normal(19.0, 0.6, m.sum()), 15.0, 20.5)
        v["rate_ra"][m] = rng.normal(-0.22, 0.08, m.sum())
        v["rate_dec"][m] = rng.normal(0.0, 0.05, m.sum())
        v["ssnum"][m] = rng.integers(1, 700_000, m.sum())
        v["color"][m] = rng.normal(0.6, 0.1, m.sum())
        v["tpk"][m] = entry_jd[m]                                      # reference epoch of the orbit
        end[m] = night + rng.integers(15, 60, m.sum())
        m = kind == ONEOFF
        v["m0"][m] = np.clip(rng.normal(19.0, 0.5, m.sum()), 16.0, 19.6)
        end[m] = night
        v["phase"] = rng.uniform(0, 1, n).astype(np.float32)
        v["tns_sn"] = self.label_tns_sn[label_idx] & (rng.random(n) < 0.5)
        v["host_gal"] = (kind == SN) & (rng.random(n) < 0.1)
        v["m0"] = v["m0"] + (self.depth - 19.6)       # the magnitudes above are for the ZTF depth
        v.update(first_night=first, first_slot=first_slot, end_night=end.astype(np.int32), prior_ndet=prior, jdstart=jdstart)
        start = len(self)
        self.a = {k: np.concatenate([self.a[k], v[k].astype(self.a[k].dtype)]) for k in self.a}
        rows = np.arange(start, start + n)
        self.new_rows.append(rows)
        return rows

    # ---- observations

    def position(self, rows, jd) -> tuple[np.ndarray, np.ndarray]:
        """Sky position at jd (solar-system objects move; the others are fixed)."""
        a = self.a
        dt_ = np.where(a["kind"][rows] == SSO, jd - a["tpk"][rows], 0.0)
        dec = np.clip(a["dec"][rows] + a["rate_dec"][rows] * dt_, self.min_dec, 89.9)
        ra = (a["ra"][rows] + a["rate_ra"][rows] * dt_ / np.cos(np.radians(dec))) % 360.0
        return ra, dec

    def true_mag(self, rows, jd, band) -> np.ndarray:
        """Noise-free magnitude of each source at jd in a band (index into ``bands``; its colour
        weight scales the source colour: blue bands fade faster after a transient's peak)."""
        with np.errstate(all="ignore"):  # each formula runs over all rows, then only its kind is kept
            return self._true_mag(rows, jd, band)

    def _true_mag(self, rows, jd, band) -> np.ndarray:
        a = self.a
        kind = a["kind"][rows]
        w = self.band_w[band]
        mag = a["m0"][rows] + w * a["color"][rows]
        # transients: Bazin flux, the blue band fading faster
        i = np.flatnonzero((kind == SN) | (kind == KN))
        if len(i):
            r, t = rows[i], jd[i] - a["tpk"][rows[i]]
            tau_r = a["tau_r"][r].astype(np.float64)
            tau_f = np.clip(1 - 0.35 * w[i], 0.4, 1.6) * a["tau_f"][r]
            log_f = bazin_log_flux(t, tau_r, tau_f)
            log_peak = 0.0
            mag[i] -= 2.5 / np.log(10) * (log_f - log_peak)
        i = np.flatnonzero(kind == ML)                                     # Paczynski magnification
        if len(i):
            r, t = rows[i], jd[i] - a["tpk"][rows[i]]
            u = np.sqrt(a["tau_r"][r] ** 2 + (t / a["tau_f"][r]) ** 2)
            mag[i] -= 2.5 * np.log10((u * u + 2) / (u * np.sqrt(u * u + 4)))
        i = np.flatnonzero((kind == PERIODIC) | (kind == STAR))
        if len(i):
            r = rows[i]
            ph = (jd[i] / a["period"][r] + a["phase"][r]) % 1.0
            shape = a["shape"][r]
            wave = np.where(shape == 1, 1 - 2 * ph,                                  # RR Lyr: fast rise, slow decline
                            np.where(shape == 2, 2 * np.abs(np.cos(np.pi * ph)) ** 12 - 1,  # eclipses (fainter)
                                     np.sin(2 * np.pi * ph)))
            wave = np.where(shape == 1, -wave, wave)
            mag[i] += a["amp"][r] * (1 + 0.2 * w[i]) * wave
        i = np.flatnonzero(kind == AGN)                                    # red-noise-like sum of waves
        if len(i):
            r, t = rows[i], jd[i]
            p, ph = a["period"][r].astype(np.float64), a["phase"][r] * 2 * np.pi
            wave = 0.6 * np.sin(2 * np.pi * t / p + ph) + 0.3 * np.sin(2 * np.pi * t / (0.37 * p) + 2.1 * ph) \
                + 0.2 * np.sin(2 * np.pi * t / (0.13 * p) + 3.7 * ph)
            mag[i] += a["amp"][r] * np.maximum(1 + 0.3 * w[i], 0.5) * wave
        return np.minimum(mag.astype(np.float64), 40.0)

    def forced(self, rows, night, slot) -> np.ndarray:
        """Epochs where the source is detected by construction (first detection, entry into the stream)."""
        a = self.a
        return ((a["entry_night"][rows] == night) & (a["entry_slot"][rows] == slot)) | \
               ((a["first_night"][rows] == night) & (a["first_slot"][rows] == slot))

    def observe(self, rows, night, slot, key=None) -> dict:
        """Everything measured at (night, slot) for these sources (vectorised). Only the observed
        epochs (or the forced ones) are measured: the arrays returned are those of ``idx``, the
        positions in ``rows`` of the observed epochs.

        ``key`` overrides the source key (solar-system alerts: one key per night and position).
        """
        a = self.a
        rows = np.asarray(rows)
        key = a["key"][rows] if key is None else key
        night = np.broadcast_to(night, rows.shape)
        slot = np.broadcast_to(slot, rows.shape)
        forced = self.forced(rows, night, slot)
        idx = np.flatnonzero((unit(key, night, slot, OBS) < P_OBS) | forced)
        rows, key, night, slot, forced = rows[idx], key[idx], night[idx], slot[idx], forced[idx]
        band = np.searchsorted(self.band_cum, unit(key, night, slot, FID), side="right").astype(np.int8)
        jd = self.epoch_jd(night, slot, unit(key, night, slot, TIME))
        mag = self.true_mag(rows, jd, band)
        lim = self.depth + 0.45 * gauss(key, night, slot, LIM)
        lim = np.where(forced, np.maximum(lim, mag + 0.15), lim)
        sigma = np.clip(0.03 + 0.09 * 10 ** (0.4 * (np.minimum(mag, 40) - self.depth + 0.6)), 0.01, 0.35)
        obs_mag = mag + sigma * gauss(key, night, slot, NOISE)
        kind = a["kind"][rows]
        signif = unit(key, night, slot, SIG) < P_SIG[kind]
        ml_sig = (kind != ML) | (a["m0"][rows] - mag > 0.1)
        tr = (kind == SN) | (kind == KN)
        started = ~tr | (night > a["first_night"][rows]) | ((night == a["first_night"][rows]) & (slot >= a["first_slot"][rows]))
        detected = ((mag < lim) & signif & ml_sig & started) | forced
        return {"idx": idx, "detected": detected, "band": band, "jd": jd, "mag": obs_mag,
                "true_mag": mag, "sigma": sigma, "lim": lim, "key": key}

    # ---- a night

    def plan_night(self, rng, night: int, n_alerts: int) -> tuple[np.ndarray, np.ndarray]:
        """(rows, slots) of the night's alerts: labels drawn from the class table, detections of the
        active sources of each label used first, new sources created for the rest."""
        want = rng.choice(len(self.labels), size=n_alerts, p=self.probs)
        demand = np.bincount(want, minlength=len(self.labels))
        rows_l, slots_l = [], []
        active = np.flatnonzero((self.a["entry_night"] < night) & (self.a["end_night"] >= night))
        for s in range(SLOTS):
            if len(active):
                ob = self.observe(active, night, s)
                det = ob["idx"][ob["detected"]]
                rows_l.append(active[det])
                slots_l.append(np.full(len(det), s, np.int8))
        rows = np.concatenate(rows_l) if rows_l else np.zeros(0, np.int64)
        slots = np.concatenate(slots_l) if slots_l else np.zeros(0, np.int8)
        slots = slots.astype(np.int8)
        lab = self.a["label"][rows]
        order = np.lexsort((rng.random(len(rows)), lab))
        rows, slots, lab = rows[order], slots[order], lab[order]
        start_of = np.searchsorted(lab, np.arange(len(self.labels)))
        rank = np.arange(len(rows)) - start_of[lab] if len(rows) else np.zeros(0, np.int64)
        take = rank < demand[lab]
        rows, slots = rows[take], slots[take]
        supplied = np.bincount(self.a["label"][rows], minlength=len(self.labels))
        short = np.maximum(demand - supplied, 0)
        new_labels = np.repeat(np.arange(len(self.labels)), short)
        new_slots = rng.integers(0, SLOTS, len(new_labels)).astype(np.int8)
        new_rows = self.create(rng, new_labels, night, new_slots)
        return np.concatenate([rows, new_rows]), np.concatenate([slots, new_slots])
