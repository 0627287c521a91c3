"""The one error type users see: a single line that names the file and the fix."""

import functools
import sys


class UserError(Exception):
    """Bad input or configuration that the user can fix; printed as one line, no traceback."""


def exit_on_user_error(main):
    """Wrap an entry point so a UserError ends the process with a one-line message and status 2."""

    @functools.wraps(main)
    def wrapper(*args, **kwargs):
        try:
            return main(*args, **kwargs)
        except UserError as err:
            # SystemExit passes through Hydra, which would otherwise print a traceback.
            print(f"error: {err}", file=sys.stderr)
            raise SystemExit(2) from None

    return wrapper
