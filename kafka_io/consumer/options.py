"""Flags of the official client (``fink_datatransfer`` 7.x and ``finkctl transfer`` 12.x).

Single-dash long options as in the real client, so user scripts keep working. Differences:
``-batchsize`` (alerts per output file) defaults to 5000 instead of 100 because a Parquet file of
100 alerts is mostly overhead; ``-partitionby`` defaults to none as in v12.
"""

from __future__ import annotations

import argparse
import os
from dataclasses import asdict, dataclass, field

from engine.errors import UserError
from engine.surveys import NAMES as SURVEYS
from engine.surveys import client_partitionings  # every survey's -partitionby values (the registry)

FORMATS = ("parquet", "avro")
DEFAULT_BATCHSIZE = 5000
DEFAULT_STALL_TIMEOUT = 60.0  # seconds without an answer from the broker before a download gives up


@dataclass
class DownloadOptions:
    topic: str
    outdir: str = "."
    partitionby: str | None = None
    nconsumers: int = -1
    batchsize: int = DEFAULT_BATCHSIZE
    limit: int | None = None
    maxtimeout: float | None = None
    number_partitions: int = 10
    survey: str | None = None
    restart_from_beginning: bool = False
    verbose: bool = False
    dump_schemas: bool = False
    outformat: str = "parquet"
    status_file: str | None = None
    stall_timeout: float = DEFAULT_STALL_TIMEOUT
    extra: dict = field(default_factory=dict)

    def validate(self) -> "DownloadOptions":
        if not self.topic or self.topic == ".":
            raise UserError("give the topic to download with -topic (see the 'Get your data' tab of your job)")
        if self.partitionby in ("", "None", "none"):
            self.partitionby = None
        if self.partitionby is not None and self.partitionby not in client_partitionings():
            raise UserError(f"{self.partitionby} is an unknown partitioning: -partitionby must be one of "
                            f"{', '.join(client_partitionings())}")
        if self.outformat not in FORMATS:
            raise UserError(f"-outformat must be one of {', '.join(FORMATS)}, not {self.outformat}")
        if self.batchsize < 1:
            raise UserError("-batchsize must be at least 1")
        if self.limit is not None and self.limit < 0:
            raise UserError("-limit must be positive")
        if self.maxtimeout is not None and self.maxtimeout <= 0:
            raise UserError("-maxtimeout must be positive")
        if self.stall_timeout <= 0:
            raise UserError("-stall_timeout must be positive")
        return self

    def processes(self, partitions: int) -> int:
        """Worker count: -1 means all logical CPUs; never more than the topic's partitions."""
        n = (os.cpu_count() or 1) if self.nconsumers in (-1, 0, None) else self.nconsumers
        return max(1, min(n, max(1, partitions)))

    def to_argv(self) -> list[str]:
        """The command-line flags that rebuild these options (for a child process)."""
        argv = ["-topic", self.topic, "-outdir", self.outdir, "-nconsumers", str(self.nconsumers),
                "-batchsize", str(self.batchsize), "-number_partitions", str(self.number_partitions),
                "-outformat", self.outformat]
        for flag, value in (("-partitionby", self.partitionby), ("-limit", self.limit),
                            ("-maxtimeout", self.maxtimeout), ("-survey", self.survey),
                            ("-stall_timeout", self.stall_timeout)):
            if value is not None:
                argv += [flag, str(value)]
        for flag, on in (("--restart_from_beginning", self.restart_from_beginning),
                         ("--verbose", self.verbose), ("--dump_schemas", self.dump_schemas)):
            if on:
                argv.append(flag)
        return argv

    def to_dict(self) -> dict:
        return asdict(self)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The official client's flags (plus ``--status-file`` for the app)."""
    parser.add_argument("-topic", default=".", help="topic to download (ftransfer_...)")
    parser.add_argument("-outdir", default=".", help="output folder, created if missing (one folder per topic)")
    parser.add_argument("-partitionby", default=None,
                        help="Hive-style folders: time (year/month/day), "
                             f"{', '.join(p for p in client_partitionings() if p != 'time')}; default none")
    parser.add_argument("-nconsumers", type=int, default=-1, help="processes; -1 = all logical CPUs")
    parser.add_argument("-batchsize", type=int, default=DEFAULT_BATCHSIZE,
                        help=f"alerts per output file (default {DEFAULT_BATCHSIZE})")
    parser.add_argument("-limit", type=int, default=None, help="download at most this many alerts")
    parser.add_argument("-maxtimeout", type=float, default=None,
                        help="seconds to wait for the broker (default: from credentials, else 10)")
    parser.add_argument("-stall_timeout", type=float, default=DEFAULT_STALL_TIMEOUT,
                        help=f"give up (exit 2, files kept, resumable) when the broker has not answered for this "
                             f"many seconds (default {DEFAULT_STALL_TIMEOUT:.0f})")
    parser.add_argument("-number_partitions", type=int, default=10,
                        help="accepted for compatibility; partitions are read from the broker")
    parser.add_argument("-survey", default=None,
                        help=f"{', '.join(SURVEYS)} (selects <survey>_credentials.yml)")
    parser.add_argument("-outformat", default="parquet", help="parquet (default) or avro")
    parser.add_argument("--restart_from_beginning", action="store_true",
                        help="ignore committed offsets and files already in -outdir; download everything again")
    parser.add_argument("--verbose", action="store_true", help="more messages")
    parser.add_argument("--dump_schemas", action="store_true",
                        help="write avro_schema_<topic>.json and arrow_schema_<topic>.metadata in the current folder")
    parser.add_argument("--status-file", dest="status_file", default=None, help=argparse.SUPPRESS)


def from_args(args: argparse.Namespace) -> DownloadOptions:
    return DownloadOptions(
        topic=args.topic, outdir=args.outdir, partitionby=args.partitionby, nconsumers=args.nconsumers,
        batchsize=args.batchsize, limit=args.limit, maxtimeout=args.maxtimeout,
        number_partitions=args.number_partitions, survey=args.survey,
        restart_from_beginning=args.restart_from_beginning, verbose=args.verbose,
        dump_schemas=args.dump_schemas, outformat=args.outformat, status_file=args.status_file,
        stall_timeout=args.stall_timeout,
    ).validate()
