"""Plotly figures of the app, one function each, all with the same restrained look.

Pure functions of DataFrames (no Streamlit), so tests and the benchmark can build them.
"""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go

from components.alerts import Roles, band_name

FONT = dict(family="Inter, Source Sans Pro, sans-serif", size=12, color="#1A1F2B")
BAND_COLOURS = {"g": "#1B9E77", "r": "#D95F02", "i": "#7570B3",
                "u": "#6A3D9A", "z": "#E7298A", "y": "#66A61E"}
PALETTE = ["#2F5DD6", "#E8833A", "#3AA17E", "#C8435B", "#8E6CC9", "#D4A72C", "#4DB3C8",
           "#A1785C", "#7F8FA6", "#B7C940", "#E377C2", "#17BECF"]


def _layout(fig: go.Figure, height: int = 320, **extra) -> go.Figure:
    fig.update_layout(template="plotly_white", font=FONT, height=height,
                      margin=dict(l=10, r=10, t=40, b=20),
                      legend=dict(orientation="h", yanchor="top", y=-0.2, x=0, title=None),
                      **extra)
    return fig


def empty(message: str, height: int = 260) -> go.Figure:
    fig = go.Figure()
    fig.add_annotation(text=message, showarrow=False, font=dict(size=14, color="#7F8FA6"))
    fig.update_xaxes(visible=False)
    fig.update_yaxes(visible=False)
    return _layout(fig, height=height)


def alerts_per_night(per_night: pd.DataFrame, night: str = "night", cls: str = "class",
                     count: str = "n_alerts", top: int = 8) -> go.Figure:
    """Stacked bars: alerts per night, coloured by class (small classes folded into 'other')."""
    if per_night is None or per_night.empty or per_night[count].sum() == 0:
        return empty("No alerts match: widen the nights or the classes")
    df = per_night[[night, cls, count]].copy()
    totals = df.groupby(cls)[count].sum().sort_values(ascending=False)
    keep = set(totals.index[:top])
    df[cls] = df[cls].where(df[cls].isin(keep), "other classes")
    df = df.groupby([night, cls], as_index=False)[count].sum()
    order = [c for c in totals.index if c in keep] + (["other classes"] if len(totals) > top else [])
    fig = go.Figure()
    for i, name in enumerate(order):
        part = df[df[cls] == name]
        fig.add_bar(x=part[night], y=part[count], name=str(name),
                    marker_color=PALETTE[i % len(PALETTE)],
                    hovertemplate="%{x}<br>%{y:,} alerts<extra>" + str(name) + "</extra>")
    fig.update_layout(barmode="stack", bargap=0.15)
    fig.update_xaxes(title=None, type="date", tickformat="%b %d\n%Y", dtick=86400000 * max(1, len(df[night].unique()) // 8))
    fig.update_yaxes(title="alerts", separatethousands=True)
    # Legend in two columns under the axis; the figure grows with it so the bars keep their height.
    rows = -(-len(order) // 2)
    fig = _layout(fig, height=300 + 22 * rows, title=dict(text="Alerts per night", x=0, font=dict(size=14)))
    fig.update_layout(legend=dict(orientation="h", yanchor="top", y=-0.12, x=0, title=None,
                                  entrywidth=0.5, entrywidthmode="fraction"),
                      margin=dict(l=10, r=10, t=40, b=20 + 22 * rows))
    return fig


def class_histogram(df: pd.DataFrame, roles: Roles, top: int = 20) -> go.Figure:
    if roles.cls is None or df.empty:
        return empty("No class column in this download")
    counts = df[roles.cls].astype(str).value_counts().head(top).sort_values()
    fig = go.Figure(go.Bar(x=counts.values, y=counts.index, orientation="h",
                           marker_color=PALETTE[0],
                           hovertemplate="%{y}: %{x:,} alerts<extra></extra>"))
    fig.update_xaxes(title="alerts", separatethousands=True)
    return _layout(fig, height=max(260, 22 * len(counts) + 80),
                   title=dict(text=f"Alerts per class ({roles.cls})", x=0, font=dict(size=14)))


def mollweide(ra_deg, dec_deg):
    """Mollweide x, y of sky positions, RA increasing to the left (centre RA = 180 deg).

    Computed here rather than with plotly's geo projections, which fetch map data from a CDN
    (the app must work offline).
    """
    import numpy as np

    lam = np.radians(180.0 - np.asarray(ra_deg, dtype=float))
    phi = np.radians(np.asarray(dec_deg, dtype=float))
    theta = phi.copy()
    for _ in range(50):  # Newton on 2t + sin 2t = pi sin phi
        f = 2 * theta + np.sin(2 * theta) - np.pi * np.sin(phi)
        d = 2 + 2 * np.cos(2 * theta)
        step = np.where(np.abs(d) > 1e-12, f / np.where(np.abs(d) > 1e-12, d, 1), 0.0)
        theta = theta - step
        if np.all(np.abs(step) < 1e-9):
            break
    x = 2 * np.sqrt(2) / np.pi * lam * np.cos(theta)
    y = np.sqrt(2) * np.sin(theta)
    return x, y


def _graticule(fig: go.Figure) -> None:
    import numpy as np

    grid = dict(color="#E1E6EE", width=1)
    dec = np.linspace(-90, 90, 91)
    for ra in range(0, 361, 60):
        x, y = mollweide(np.full_like(dec, ra if ra < 360 else 359.999), dec)
        fig.add_scatter(x=x, y=y, mode="lines", line=grid if 0 < ra < 360 else dict(color="#B8C0CC", width=1.2),
                        hoverinfo="skip", showlegend=False)
    ra_line = np.linspace(0.001, 359.999, 181)
    for d in (-60, -30, 0, 30, 60):
        x, y = mollweide(ra_line, np.full_like(ra_line, d))
        fig.add_scatter(x=x, y=y, mode="lines", line=grid, hoverinfo="skip", showlegend=False)
    for ra in (0, 60, 120, 180, 240, 300):
        x, y = mollweide([ra if ra else 0.001], [0])
        fig.add_annotation(x=float(x[0]), y=float(y[0]), text=f"{ra // 15}h", showarrow=False,
                           font=dict(size=10, color="#8A94A6"), yshift=-9)
    for d in (-60, -30, 30, 60):
        x, y = mollweide([359.999], [d])
        fig.add_annotation(x=float(x[0]), y=float(y[0]), text=f"{d:+d}°", showarrow=False,
                           font=dict(size=10, color="#8A94A6"), xshift=-16)


def sky_map(df: pd.DataFrame, roles: Roles, max_points: int = 20_000) -> go.Figure:
    """Alert positions on a Mollweide sky (equatorial, RA increasing to the left)."""
    if roles.ra is None or roles.dec is None or df.empty:
        return empty("No coordinates in this download")
    sample = df.sample(max_points, random_state=0) if len(df) > max_points else df
    fig = go.Figure()
    _graticule(fig)
    groups = list(sample.groupby(sample[roles.cls].astype(str))) if roles.cls else [("alerts", sample)]
    ranked = sorted(groups, key=lambda kv: -len(kv[1]))
    for i, (name, part) in enumerate(ranked[:12]):
        x, y = mollweide(part[roles.ra], part[roles.dec])
        fig.add_scatter(x=x, y=y, mode="markers", name=str(name),
                        marker=dict(size=5, opacity=0.8, color=PALETTE[i % len(PALETTE)]),
                        customdata=part[[roles.ra, roles.dec]].to_numpy(),
                        hovertemplate="RA %{customdata[0]:.4f}°, Dec %{customdata[1]:.4f}°<extra>"
                                      + str(name) + "</extra>")
    fig.update_xaxes(visible=False, range=[-2.9, 2.9])
    fig.update_yaxes(visible=False, range=[-1.45, 1.45], scaleanchor="x", scaleratio=1)
    fig.update_yaxes(constrain="domain")  # no empty band between the sky and the legend
    fig.update_xaxes(constrain="domain")
    fig = _layout(fig, height=380, title=dict(text="Sky map (RA, Dec)", x=0, font=dict(size=14)),
                  plot_bgcolor="#FFFFFF")
    fig.update_layout(legend=dict(orientation="h", yanchor="top", y=0.02, x=0))
    return fig


def magnitude_distribution(df: pd.DataFrame, roles: Roles) -> go.Figure:
    if roles.value is None or df.empty:
        return empty("No photometry in this download")
    fig = go.Figure()
    bands = df[roles.band].map(band_name) if roles.band else pd.Series("all", index=df.index)
    for band in sorted(bands.dropna().unique()):
        values = df.loc[bands == band, roles.value].dropna()
        fig.add_histogram(x=values, name=f"{band}", opacity=0.7, nbinsx=40,
                          marker_color=BAND_COLOURS.get(band, PALETTE[0]))
    fig.update_layout(barmode="overlay")
    label = "magnitude (magpsf)" if roles.is_magnitude else f"flux ({roles.value})"
    fig.update_xaxes(title=label)
    fig.update_yaxes(title="alerts")
    name = "Magnitude" if roles.is_magnitude else "Flux"
    return _layout(fig, title=dict(text=f"{name} distribution by filter", x=0, font=dict(size=14)))


def light_curve(points: pd.DataFrame, object_id, is_magnitude: bool = True) -> go.Figure:
    """One object's photometry per filter: alerts filled with error bars, history detections
    hollow, upper limits (history epochs without detection) as faint down-pointing triangles."""
    if points is None or points.empty:
        return empty("No photometry for this object")
    fig = go.Figure()
    styles = (("alert", "circle", 8, 1.0), ("history", "circle-open", 8, 1.0),
              ("upper limit", "triangle-down-open", 7, 0.45))
    for band in sorted(points["band"].unique()):
        for source, symbol, size, opacity in styles:
            part = points[(points["band"] == band) & (points["source"] == source)]
            if part.empty:
                continue
            t = part["time"] - 2400000.5 if is_magnitude else part["time"]  # JD -> MJD
            error = None if source == "upper limit" else dict(type="data", array=part["error"], visible=True,
                                                               thickness=1)
            fig.add_scatter(x=t, y=part["value"], mode="markers",
                            name=f"{band} ({source})", opacity=opacity,
                            marker=dict(symbol=symbol, size=size,
                                        color=BAND_COLOURS.get(band, PALETTE[0])),
                            error_y=error,
                            hovertemplate="MJD %{x:.5f}<br>%{y:.3f}<extra>" + f"{band} {source}" + "</extra>")
    fig.update_xaxes(title="MJD", tickformat=".1f")
    if is_magnitude:
        fig.update_yaxes(title="magnitude", autorange="reversed")
    else:
        fig.update_yaxes(title="flux")
    return _layout(fig, height=380, title=dict(text=f"Light curve of {object_id}", x=0,
                                               font=dict(size=14)))
