"""How every ``torsoseg_*`` command reports an error: one line on stderr, an exit code, a traceback only
with ``-v``.

Exit codes: 1 for data errors (a broken file, a failed case, anything unexpected), 2 for usage errors (a
bad flag value, a dataset that does not exist), 130 when interrupted.
"""

from __future__ import annotations

import sys
import traceback
from collections.abc import Callable

DATA = 1
USAGE = 2
INTERRUPTED = 130

#: Errors whose message already says what is wrong; anything else is shown with its type name.
_EXPECTED: tuple[type[BaseException], ...] = (ValueError, OSError)


class UsageError(ValueError):
    """A command line that cannot work (exit code 2); the message names the flag and the value."""


def fail(prog: str, error: BaseException, code: int = DATA, verbose: bool = False) -> int:
    """Prints ``prog: message`` on one line to stderr (the traceback before it when ``verbose``); returns
    ``code``."""
    if verbose:
        traceback.print_exception(type(error), error, error.__traceback__, file=sys.stderr)
    text = str(error) if isinstance(error, _EXPECTED) and str(error) else f"{type(error).__name__}: {error}"
    text = " ".join(text.split())  # one line, even when a message from deeper down spans several
    if not verbose and not isinstance(error, _EXPECTED):
        text += " (run with -v for the traceback)"
    print(f"{prog}: {text}", file=sys.stderr)
    return code


def guard(
    prog: str,
    body: Callable[[], int],
    verbose: bool = False,
    usage: tuple[type[BaseException], ...] = (),
    interrupted: str = "interrupted",
) -> int:
    """Runs a command's ``body`` and turns what it raises into one line and an exit code.

    Args:
        prog: the command name that starts the line (``torsoseg_train``).
        body: the command; returns its exit code.
        verbose: also print the traceback (``-v``).
        usage: exception types that mean a usage error (exit 2), besides :class:`UsageError`.
        interrupted: the line printed on Ctrl-C (exit 130), e.g. how to resume.

    Returns:
        ``body()``'s exit code, or 2 (usage), 1 (anything else), 130 (interrupted).
    """
    try:
        return body()
    except KeyboardInterrupt:
        print(f"{prog}: {interrupted}", file=sys.stderr)
        return INTERRUPTED
    except (UsageError, *usage) as e:
        return fail(prog, e, USAGE, verbose)
    except Exception as e:  # the command's last line of defence: one line, not a traceback
        return fail(prog, e, DATA, verbose)
