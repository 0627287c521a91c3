"""The one error type users see: a single line that names the file and the fix."""

import functools
import re
import sys


class UserError(Exception):
    """Bad input or configuration that the user can fix; printed as one line, no traceback."""


def one_line(err: UserError) -> str:
    """The error's own message, also when a DataLoader worker raised it: PyTorch then re-raises it in
    the main process with the worker's traceback in front, and the message is the last line."""
    lines = str(err).strip().splitlines()
    if len(lines) > 1 and "Original Traceback" in lines[1]:
        return re.sub(r"^[\w.]+: ", "", lines[-1])
    return " ".join(lines)


def exit_on_user_error(main):
    """Wrap an entry point so a UserError ends the process with a one-line message and status 2."""

    @functools.wraps(main)
    def wrapper(*args, **kwargs):
        try:
            return main(*args, **kwargs)
        except UserError as err:
            # SystemExit passes through Hydra, which would otherwise print a traceback.
            print(f"error: {one_line(err)}", file=sys.stderr)
            raise SystemExit(2) from None

    return wrapper
