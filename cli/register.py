"""``fink_client_register``: write the credentials file the downloaders read.

Same flags as fink-client 7.x (``-username -password -group_id -mytopics -servers -maxtimeout
--tmp --verbose``), writing ``~/.finkclient/credentials.yml``; with ``-survey`` it writes the v12
file ``~/.finkclient/<survey>_credentials.yml`` (keys survey, username, groupid, servers,
maxtimeout) that ``finkctl`` 12.x also reads.
"""

from __future__ import annotations

import argparse
import sys

from engine.errors import UserError


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="fink_client_register",
                                description="Store the credentials used by fink_datatransfer / fink-transfer download")
    p.add_argument("-username", required=True, help="user name")
    p.add_argument("-password", default=None, help="password (7.x file only; unused by downloads)")
    p.add_argument("-group_id", "-groupid", dest="group_id", required=True, help="Kafka consumer group id")
    p.add_argument("-mytopics", nargs="*", default=[], help="topics (7.x file only)")
    p.add_argument("-servers", required=True, help="comma-separated host:port list")
    p.add_argument("-maxtimeout", type=int, default=10, help="seconds to wait for the broker (default 10)")
    p.add_argument("-survey", default=None, help="write the v12 <survey>_credentials.yml instead")
    p.add_argument("--tmp", action="store_true", help="write under /tmp instead of ~/.finkclient")
    p.add_argument("--verbose", action="store_true", help="print the stored credentials")
    return p


def run(argv: list[str] | None = None) -> int:
    from kafka_io.consumer.credentials import write_credentials

    args = build_parser().parse_args(argv)
    try:
        path = write_credentials({"username": args.username, "password": args.password,
                                  "group_id": args.group_id, "mytopics": args.mytopics,
                                  "servers": args.servers, "maxtimeout": args.maxtimeout},
                                 survey=args.survey, tmp=args.tmp)
    except UserError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    except OSError as exc:
        print(f"error: cannot write credentials: {exc.strerror}", file=sys.stderr)
        return 2
    if args.verbose:
        print(f"credentials stored at {path}:")
        print(path.read_text(), end="")
    return 0


def main() -> None:
    sys.exit(run())


if __name__ == "__main__":
    main()
