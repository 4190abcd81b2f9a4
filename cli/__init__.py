"""Command-line shells over engine/ and kafka_io/: parse, call, print, exit 2 on a UserError."""
