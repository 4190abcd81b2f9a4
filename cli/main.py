"""``fink-transfer``: one command, sub-commands registered from one module each.

Each sub-command module exposes ``register(subparsers)``, which adds its parser and sets
``func`` (called with the parsed args, returns an exit code). A UserError becomes one line on
stderr and exit code 2, never a traceback.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from engine.errors import UserError

# Sub-command modules, in the order shown by --help. One that fails to import is a bug: it raises.
SUBCOMMAND_MODULES = (
    "cli.archive_cmd",    # archive build | index | info
    "cli.broker_cmd",     # broker start | stop | status
    "cli.submit_cmd",     # submit
    "cli.jobs_cmd",       # jobs list | show | log | cancel | run
    "cli.download_cmd",   # download (same flags as fink_datatransfer)
    "cli.topics_cmd",     # topics list | delete
    "cli.users_cmd",      # users add | list | remove | passwd; audit (service mode)
    "cli.proxy_cmd",      # kafka-proxy (user side: SCRAM for clients without SASL, e.g. finkctl)
    "cli.app_cmd",        # app (broker + demo archive + streamlit)
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="fink-transfer",
                                     description="Fink Data Transfer: archive -> Kafka topic -> Parquet")
    parser.add_argument("--config", help="YAML configuration file (default: $FINK_TRANSFER_CONFIG or ./fink_transfer.yaml)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in SUBCOMMAND_MODULES:
        importlib.import_module(name).register(sub)
    return parser


def run(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    if args.config:
        import os
        os.environ["FINK_TRANSFER_CONFIG"] = args.config
    return call(args.func, args)


def call(func, args) -> int:
    """Run a command function: its exit code, or one line on stderr and 2 for a UserError."""
    try:
        return int(func(args) or 0)
    except UserError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


def main() -> None:
    sys.exit(run())


if __name__ == "__main__":
    main()
