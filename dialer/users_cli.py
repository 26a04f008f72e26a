"""`dialer users …`: people who may use the API and the pages (common/users.py).

    dialer users add NAME --role campaign_manager|flow_designer|compliance|supervisor|admin
    dialer users rotate-token NAME          # a new token; the old one and its sessions stop working
    dialer users disable|enable NAME
    dialer users list

A token is printed once, on stdout alone (so `TOKEN=$(dialer users add …)` works);
the database keeps only its hash.
"""
from __future__ import annotations

import argparse
import sys

from common import users
from common.auth import ROLES, AuthError


def add_parser(groups) -> None:
    people = groups.add_parser("users", help="API users, roles and tokens").add_subparsers(
        dest="command", required=True)
    add = people.add_parser("add", help="add a user and print its API token (once)")
    add.add_argument("name")
    add.add_argument("--role", required=True, choices=sorted(ROLES))
    rotate = people.add_parser("rotate-token", help="replace a user's token and print the new one (once)")
    rotate.add_argument("name")
    for verb in ("disable", "enable"):
        people.add_parser(verb, help=f"{verb} a user").add_argument("name")
    people.add_parser("list", help="users and their roles (never tokens)")
    for sub in (add, rotate, people.choices["disable"], people.choices["enable"]):
        sub.add_argument("--by", default=None, help="who is acting (default user@host)")


async def run(pool, args: argparse.Namespace, actor: str) -> int:
    try:
        if args.command == "add":
            print(await users.add_user(pool, args.name, args.role, by=actor))
            print(f"user {args.name} ({args.role}) added; keep the token above, it is not shown again",
                  file=sys.stderr)
        elif args.command == "rotate-token":
            print(await users.rotate_token(pool, args.name, by=actor))
            print(f"new token for {args.name}; the old one no longer works", file=sys.stderr)
        elif args.command in ("disable", "enable"):
            await users.set_disabled(pool, args.name, args.command == "disable", by=actor)
            print(f"user {args.name} {args.command}d")
        else:
            for u in await users.list_users(pool):
                state = "disabled" if u["disabled"] else "active"
                print(f"{u['name']:<24} {u['role']:<17} {state:<9} token since {u['token_created_at']:%Y-%m-%d %H:%M}")
    except AuthError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0
