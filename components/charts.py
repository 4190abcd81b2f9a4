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
                      margin=dict(l=10, r=10, t=36, b=10),
                      legend=dict(orientation="h", yanchor="bottom", y=1.02, x=0, title=None),
                      **extra)
    return fig


def empty(message: str, height: int = 260) -> go.Figure:
    fig = go.Figure()
    fig.add_annotation(text=message, showarrow=False, font=dict(size=14, color="#7F8FA6"))
    fig.update_xaxes(visible=False)
    fig.update_yaxes(visible=False)
    return _layout(fig, height=height)


def alerts_per_night(per_night: pd.DataFrame, night: str = "night", cls: str = "class",
                     count: str = "n_alerts", top: int = 10) -> go.Figure:
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
    fig.update_xaxes(title=None, type="category")
    fig.update_yaxes(title="alerts", separatethousands=True)
    return _layout(fig, title=dict(text="Alerts per night", x=0, font=dict(size=14)))


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


def sky_map(df: pd.DataFrame, roles: Roles, max_points: int = 20_000) -> go.Figure:
    """Alert positions on a Mollweide sky (RA increasing to the left, as on the sky)."""
    if roles.ra is None or roles.dec is None or df.empty:
        return empty("No coordinates in this download")
    sample = df.sample(max_points, random_state=0) if len(df) > max_points else df
    fig = go.Figure()
    groups = sample.groupby(sample[roles.cls].astype(str)) if roles.cls else [("alerts", sample)]
    ranked = sorted(groups, key=lambda kv: -len(kv[1]))
    for i, (name, part) in enumerate(ranked[:12]):
        lon = 180.0 - part[roles.ra].astype(float)
        fig.add_trace(go.Scattergeo(lon=lon, lat=part[roles.dec].astype(float), mode="markers",
                                    name=str(name), marker=dict(size=4, opacity=0.75,
                                                                color=PALETTE[i % len(PALETTE)]),
                                    customdata=part[roles.ra],
                                    hovertemplate="RA %{customdata:.4f}°, Dec %{lat:.4f}°<extra>"
                                                  + str(name) + "</extra>"))
    fig.update_geos(projection_type="mollweide", showcoastlines=False, showland=False,
                    showframe=True, framecolor="#B8C0CC", bgcolor="#FBFCFE",
                    lonaxis=dict(showgrid=True, gridcolor="#E3E7EE", dtick=30),
                    lataxis=dict(showgrid=True, gridcolor="#E3E7EE", dtick=30))
    return _layout(fig, height=380, title=dict(text="Sky map (RA, Dec)", x=0, font=dict(size=14)))


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
    """One object's photometry, per filter with error bars; history points hollow."""
    if points is None or points.empty:
        return empty("No photometry for this object")
    fig = go.Figure()
    for band in sorted(points["band"].unique()):
        for source, symbol in (("alert", "circle"), ("history", "circle-open")):
            part = points[(points["band"] == band) & (points["source"] == source)]
            if part.empty:
                continue
            fig.add_scatter(x=part["time"], y=part["value"], mode="markers",
                            name=f"{band} ({source})",
                            marker=dict(symbol=symbol, size=8,
                                        color=BAND_COLOURS.get(band, PALETTE[0])),
                            error_y=dict(type="data", array=part["error"], visible=True,
                                         thickness=1),
                            hovertemplate="t=%{x:.5f}<br>%{y:.3f}<extra>" + band + "</extra>")
    fig.update_xaxes(title="JD" if is_magnitude else "MJD (TAI)")
    if is_magnitude:
        fig.update_yaxes(title="magnitude", autorange="reversed")
    else:
        fig.update_yaxes(title="flux")
    return _layout(fig, height=380, title=dict(text=f"Light curve of {object_id}", x=0,
                                               font=dict(size=14)))
