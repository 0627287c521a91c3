"""The one error type users see (a single line that names the file and the fix), and the one warning type
(an input that can be used but gives a doubtful answer)."""

import contextlib
import functools
import re
import sys
import warnings
from collections.abc import Iterator

from hydra.errors import InstantiationException
from hydra.utils import instantiate
from omegaconf.errors import MissingMandatoryValue


class UserError(Exception):
    """Bad input or configuration that the user can fix; printed as one line, no traceback."""


class InputWarning(UserWarning):
    """An input unlike the model's training data (a tiny image, a silent song): it is predicted, and its
    result is marked with the reason."""


@contextlib.contextmanager
def input_warnings() -> Iterator[list[str]]:
    """The messages of the InputWarnings raised in the block (every one, repeats too), in a list filled when
    the block ends; any other warning is shown as usual."""
    messages: list[str] = []
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", InputWarning)
        yield messages
    for w in caught:
        if issubclass(w.category, InputWarning):
            messages.append(str(w.message))
        else:
            warnings.showwarning(w.message, w.category, w.filename, w.lineno)


# what the code of a config part raises for a value it rejects (a negative size, an unknown name, a wrong
# type or keyword); ImportError and AttributeError: Hydra could not find a _target_
REJECTED_VALUE = (ValueError, TypeError, ImportError, AttributeError)


def _cause(err: BaseException) -> BaseException:
    """The error under Hydra's InstantiationException (one per level of nesting)."""
    while isinstance(err, InstantiationException) and err.__cause__ is not None:
        err = err.__cause__
    return err


@contextlib.contextmanager
def config_part(key: str, target: str | None = None, rejected: tuple = ()) -> Iterator[None]:
    """Around building the config part ``key`` (model.optimizer, data.transforms, rendering...): a value its
    code rejects, raised directly or through Hydra's instantiate, is the user's mistake, a one-line UserError
    naming the key; a UserError passes as it is. ``target``: what was being built, named in the message;
    ``rejected``: the part's own exception types for a bad value (the Trainer's MisconfigurationException)."""
    rejected = (*REJECTED_VALUE, *rejected)
    try:
        yield
    except (InstantiationException, *rejected) as err:
        cause = _cause(err)
        if isinstance(cause, UserError):
            raise cause from None
        if not isinstance(cause, (InstantiationException, *rejected)):
            raise  # a bug in the built code keeps its traceback
        reason = " ".join(str(cause).split())
        if target is None:
            raise UserError(f"{key}: {reason}; fix {key}") from None
        raise UserError(f"{key}: cannot build {target} ({reason}); fix {key}.*") from None


def build(key: str, cfg, *args, rejected: tuple = (), **kwargs):
    """``hydra.utils.instantiate(cfg, *args, **kwargs)`` for the config part ``key``, as ``config_part``."""
    target = cfg.get("_target_") if hasattr(cfg, "get") else None
    with config_part(key, target, rejected):
        return instantiate(cfg, *args, **kwargs)


def one_line(err: UserError) -> str:
    """The error's own message, also when a DataLoader worker raised it: PyTorch then re-raises it in
    the main process with the worker's traceback in front, and the message is the last line."""
    lines = str(err).strip().splitlines()
    if len(lines) > 1 and "Original Traceback" in lines[1]:
        return re.sub(r"^[\w.]+: ", "", lines[-1])
    return " ".join(lines)


def user_message(err: BaseException) -> str | None:
    """The one line to print for a mistake the user can fix; None for anything else (a bug keeps its
    traceback).

    A UserError raised while Hydra builds an object from its config reaches the entry point wrapped in
    Hydra's InstantiationException (one per level of nesting), and a required value left off the command
    line (``???`` in the config) is omegaconf's MissingMandatoryValue.
    """
    err = _cause(err)
    if isinstance(err, UserError):
        return one_line(err)
    if isinstance(err, MissingMandatoryValue):
        return f"{err.full_key} is required; pass {err.full_key}=<value> on the command line"
    return None


def exit_on_user_error(main):
    """Wrap an entry point so a user's mistake ends the process with a one-line message and status 2."""

    @functools.wraps(main)
    def wrapper(*args, **kwargs):
        try:
            return main(*args, **kwargs)
        except Exception as err:
            message = user_message(err)
            if message is None:
                raise
            # SystemExit passes through Hydra, which would otherwise print a traceback.
            print(f"error: {message}", file=sys.stderr)
            raise SystemExit(2) from None

    return wrapper
