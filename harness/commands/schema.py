"""``harness schema [NAME] [--path]``: the JSON Schemas of the harness's file formats.

For editors: ``harness schema pipeline --path`` prints where the schema is installed, for a
``# yaml-language-server: $schema=PATH`` first line (docs/formats/README.md).
"""

from __future__ import annotations

import argparse

from harness.commands._common import add_json_flag, out_console, print_json


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("schema", help="JSON Schemas of the file formats (for editors and CI)",
                       description="List the file formats, print one's JSON Schema, or its "
                       "installed path (--path).")
    p.add_argument("name", nargs="?", default=None,
                   help="pipeline | experiment | incident | subject | history-event | results")
    p.add_argument("--path", action="store_true", help="print only the schema file's path")
    add_json_flag(p)
    p.set_defaults(func=schema_main)


def schema_main(args: argparse.Namespace) -> int:
    from harness.schemas import FORMATS, load_schema, schema_path

    if args.name is None:
        rows = {name: {"about": about, "path": str(schema_path(name))}
                for name, about in FORMATS.items()}
        if args.json:
            print_json(rows)
        else:
            console = out_console()
            for name, row in rows.items():
                console.print(f"{name:<14} {row['path']}\n{'':<14} {row['about']}",
                              markup=False, soft_wrap=True)
        return 0
    path = schema_path(args.name)
    if args.path:
        if args.json:
            print_json({"name": args.name, "path": str(path)})
        else:
            print(path)
        return 0
    print_json(load_schema(args.name))
    return 0
