"""Arrow -> Avro: the Spark/Fink-style output schema and a vectorised schemaless encoder."""
