"""The multiprocessing downloader of transfer topics (fink_datatransfer / finkctl transfer compatible).

Modules, one job each:

* ``options``     - the flags of the official client, parsed into :class:`DownloadOptions`;
* ``credentials`` - ``~/.finkclient`` credential files (7.x and v12 formats) or our settings;
* ``offsets``     - self-describing file names, disk reconciliation, committed offsets;
* ``decode``      - schemaless Avro batch -> Arrow table (schema-driven types);
* ``writer``      - atomic Parquet/Avro files in Hive-style partition folders;
* ``worker``      - one process: owns partitions, decode -> write -> commit;
* ``download``    - the coordinator: checks, schema, workers, completion, manifest;
* ``progress``    - progress line and final summary;
* ``status``      - status file API for the app (start/read/cancel a download process).
"""

from kafka_io.consumer.options import DownloadOptions  # noqa: F401
