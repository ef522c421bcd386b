"""Errors that reach the user as one line, with the exit code the CLI returns."""

from __future__ import annotations


class NgffFuseError(Exception):
    """A failure while running (I/O, disk full, interrupted write): exit code 1."""

    exit_code = 1


class InputError(NgffFuseError):
    """Bad input or bad options: what is wrong and how to fix it. Exit code 2."""

    exit_code = 2
