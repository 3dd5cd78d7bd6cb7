"""The ``mtl-edge`` command line: one small function per subcommand.

Each command group's module (``data``, ``training``, ``export``, ``run``, ``info``) holds its
parsers' builders and its ``cmd_*`` functions, each calling one library function;
``build_parser`` below is the one table that binds every subcommand to its function.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from ..extras import missing_extra
from ..version import __version__
from .data import add_data_parsers, cmd_data_show, cmd_data_synth
from .export import add_check_parser, add_doctor_parser, add_export_parser, cmd_check, cmd_doctor, cmd_export
from .info import add_info_parser, add_profile_parser, cmd_info, cmd_profile
from .run import add_demo_parser, add_run_parser, cmd_demo, cmd_run
from .training import add_eval_parser, add_train_parser, cmd_eval, cmd_train

__all__ = [
    "build_parser",
    "cmd_check",
    "cmd_data_show",
    "cmd_data_synth",
    "cmd_demo",
    "cmd_doctor",
    "cmd_eval",
    "cmd_export",
    "cmd_info",
    "cmd_profile",
    "cmd_run",
    "cmd_train",
    "main",
]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="mtl-edge",
        description="Multi-task driving perception (lanes, vehicles, signs, drivable area) for the edge.",
    )
    parser.add_argument("--version", action="version", version=f"mtl-edge {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    # In --help order. The functions are bound here, when the parser is built (tests replace them on this module).
    synth, show = add_data_parsers(sub)
    synth.set_defaults(func=cmd_data_synth)
    show.set_defaults(func=cmd_data_show)
    add_train_parser(sub).set_defaults(func=cmd_train)
    add_eval_parser(sub).set_defaults(func=cmd_eval)
    add_export_parser(sub).set_defaults(func=cmd_export)
    add_check_parser(sub).set_defaults(func=cmd_check)
    add_doctor_parser(sub).set_defaults(func=cmd_doctor)
    add_run_parser(sub).set_defaults(func=cmd_run)
    add_demo_parser(sub).set_defaults(func=cmd_demo)
    add_profile_parser(sub).set_defaults(func=cmd_profile)
    add_info_parser(sub).set_defaults(func=cmd_info)
    return parser


def _engine_errors() -> type[Exception]:
    from ..backends.trt.cuda import EngineBuildError

    return EngineBuildError


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the console script; returns the process exit code."""
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        print("interrupted; finished files are kept and a re-run resumes", file=sys.stderr)
        return 130
    except ModuleNotFoundError as e:  # a lazily imported module of an extra that is not installed
        hint = missing_extra(e)
        if hint is None:
            raise
        print(f"mtl-edge: error: {hint}", file=sys.stderr)
        return 2
    except (ValueError, OSError, _engine_errors()) as e:  # our errors say what to fix; no traceback for them
        print(f"mtl-edge: error: {e}", file=sys.stderr)
        return 2
