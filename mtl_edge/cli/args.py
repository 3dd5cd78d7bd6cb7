"""Argument types of the command line and the subcommand factory (the names show in argparse's errors)."""

from __future__ import annotations

import argparse


def _size(text: str) -> tuple[int, int]:
    """Parse WxH (e.g. 1280x720) into (width, height)."""
    try:
        w, h = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected WIDTHxHEIGHT such as 1280x720, got {text!r}") from None
    if w < 64 or h < 64 or w % 2 or h % 2:
        raise argparse.ArgumentTypeError(f"size {text} must be even and at least 64x64 (H.264 needs even sizes)")
    return w, h


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive whole number, got {text}")
    return value


def _hw(text: str) -> tuple[int, int]:
    """Parse HxW (e.g. 384x640) into (height, width)."""
    try:
        h, w = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected HEIGHTxWIDTH such as 384x640, got {text!r}") from None
    return h, w


def _command(parent: argparse._SubParsersAction, name: str, help: str, description: str) -> argparse.ArgumentParser:
    """A subcommand whose --help shows defaults."""
    return parent.add_parser(
        name, help=help, description=description, formatter_class=argparse.ArgumentDefaultsHelpFormatter
    )
