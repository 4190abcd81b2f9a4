"""``fink_datatransfer``: drop-in for the official client's command (same single-dash flags).

Errors are one line on stderr with exit code 2, never a traceback.
"""

from __future__ import annotations

import argparse
import sys



def build_parser() -> argparse.ArgumentParser:
    from kafka_io.consumer.options import add_arguments

    parser = argparse.ArgumentParser(prog="fink_datatransfer",
                                     description="Download alerts of a Fink Data Transfer topic (Kafka -> Parquet)")
    add_arguments(parser)
    return parser


def run(argv: list[str] | None = None) -> int:
    from cli.download_cmd import run as run_download_cmd
    from cli.main import call

    return call(run_download_cmd, build_parser().parse_args(argv))


def main() -> None:
    sys.exit(run())


if __name__ == "__main__":
    main()
