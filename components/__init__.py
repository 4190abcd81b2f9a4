"""Reusable pieces of the Streamlit app: the one door to the library, charts, widgets, formatting.

Pages in ``app_pages/`` only lay out widgets; everything they show comes through here.
"""
