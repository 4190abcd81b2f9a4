"""``fink-transfer users add|list|remove|passwd`` and ``fink-transfer audit``: the operator's shell
over :mod:`engine.accounts` (service mode: the same name and password log in to the app and, with
SCRAM, authenticate to Kafka)."""

from __future__ import annotations

import getpass
import sys

from engine.errors import UserError


def register(sub) -> None:
    from cli.shell import action

    p = sub.add_parser("users", help="service mode: add, list, remove users or change a password")
    actions = p.add_subparsers(dest="users_action", metavar="ACTION", required=True)
    add = action(actions, "add", "create a user (app login + Kafka SCRAM credentials + group ACL)", run_add, "name")
    add.add_argument("--role", choices=("user", "admin"), default="user")
    _password_args(add)
    action(actions, "list", "users and roles", run_list)
    action(actions, "remove", "delete a user, its Kafka credentials and ACLs", run_remove, "name")
    _password_args(action(actions, "passwd", "change a user's password (app and Kafka)", run_passwd, "name"))
    au = sub.add_parser("audit", help="service mode: the audit log (who submitted/cancelled/shared/deleted what)")
    au.add_argument("--action", help="only this action (submit, start, cancel, share, delete, user-add, ...)")
    au.set_defaults(func=run_audit)


def _password_args(p) -> None:
    g = p.add_mutually_exclusive_group()
    g.add_argument("--password", help="the password (visible in the process list: prefer the prompt)")
    g.add_argument("--password-stdin", action="store_true", help="read the password from the first line of stdin")


def _password(args) -> str:
    if args.password:
        return args.password
    if args.password_stdin:
        return sys.stdin.readline().rstrip("\n")
    first = getpass.getpass("password: ")
    if getpass.getpass("again: ") != first:
        raise UserError("the two passwords differ")
    return first


def run_add(args) -> int:
    from engine.accounts import create_account, kafka_identity
    from engine.config import load_settings

    settings = load_settings()
    user = create_account(settings, args.name, _password(args), role=args.role)
    kafka = " and Kafka SCRAM credentials" if kafka_identity(settings) else ""
    print(f"user {user.name} ({user.role}) created{kafka}; consumer group id: {user.group_id}")
    return 0


def run_list(args) -> int:
    from cli.shell import local_time, print_table
    from engine.config import load_settings
    from engine.users import list_users

    rows = [[u.name, u.role, u.group_id, local_time(u.created, "%Y-%m-%d %H:%M")] for u in list_users(load_settings())]
    print_table([("user", 32), ("role", 6), ("group id", 40), ("created", 0)], rows, "no users")
    return 0


def run_remove(args) -> int:
    from engine.accounts import remove_account
    from engine.config import load_settings

    remove_account(load_settings(), args.name)
    print(f"user {args.name} removed")
    return 0


def run_passwd(args) -> int:
    from engine.accounts import change_password
    from engine.config import load_settings

    change_password(load_settings(), args.name, _password(args))
    print(f"password of {args.name} changed")
    return 0


def run_audit(args) -> int:
    import json

    from engine.audit import read_audit
    from engine.config import load_settings

    for entry in read_audit(load_settings(), action=args.action):
        print(json.dumps(entry, sort_keys=True))
    return 0
