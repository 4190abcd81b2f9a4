"""Transfer engine: archive, schemas, classification, queries, estimates and the publishing job.

Library code: never imports streamlit. The app and the CLI are thin shells over it.
"""
