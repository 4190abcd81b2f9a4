"""Kafka side of the service: the embedded broker, the fink-format producer and the consumer.

Library code: never imports streamlit.
"""
