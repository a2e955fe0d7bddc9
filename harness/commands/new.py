"""``harness new pipeline DIR``: scaffold a small working pipeline of your own."""

from __future__ import annotations

import argparse

from harness.commands._common import add_json_flag, err_console, out_console, print_json


def register(sub: argparse._SubParsersAction) -> None:
    new = sub.add_parser("new", help="scaffold a new pipeline")
    kinds = new.add_subparsers(dest="new_command", metavar="WHAT")
    p = kinds.add_parser("pipeline", help="a small working orders pipeline in DIR",
                         description="Write an orders pipeline (order.placed -> inventory "
                         "reserves or declines -> shipping ships as an effect) with schemas, "
                         "subject files, a consumer pact test and provider states, a chaos "
                         "experiment and a bug-zoo variant it catches.")
    p.add_argument("dir", help="folder to write into (created; existing files are refused)")
    p.add_argument("--force", action="store_true", help="overwrite existing files")
    add_json_flag(p)
    p.set_defaults(func=main)
    new.set_defaults(func=lambda args: (new.print_help(), 2)[1])


def main(args: argparse.Namespace) -> int:
    from harness.scaffold import scaffold

    paths = scaffold(args.dir, force=args.force)
    if args.json:
        print_json({"dir": args.dir, "files": [str(p) for p in paths]})
        return 0
    err_console().print(f"wrote {len(paths)} files into {args.dir}")
    out = out_console()
    for path in paths:
        out.print(f"  {path}")
    out.print(f"next: cd {args.dir} && harness run pipeline.yaml")
    return 0
