"""What every command shares: exit codes, the consoles, and the one place errors become messages.

``cli.py`` and each feature's command (``studio/cli.py``, ``bench/cli.py``)
import it; it imports none of them, so no command module imports another.
"""

from __future__ import annotations

import sys
from typing import Callable, NoReturn, TypeVar

from rich.console import Console

from .errors import CrowdveilError, MissingExtra, SetupError
from .ui import error_class_name, error_text, shown, t

__all__ = ["EXIT", "console", "err_console", "guarded", "fail"]

EXIT = {"ok": 0, "failed": 1, "usage": 2, "setup": 3, "interrupted": 130}

# emoji=False: a file named ":smile:.jpg" must be printed as it is.
console = Console(stderr=False, highlight=False, emoji=False)
err_console = Console(stderr=True, highlight=False, emoji=False)

T = TypeVar("T")


def guarded(fn: Callable[[], T]) -> T:
    """Run ``fn``; map crowdveil's errors to one line and an exit code: the one place errors become messages."""
    try:
        return fn()
    except KeyboardInterrupt:
        fail(t("interrupted"), t("interrupted_hint"), EXIT["interrupted"])
    except SetupError as exc:
        fail(*error_text(error_class_name(exc), str(exc), exc.hint), EXIT["setup"])
    except MissingExtra as exc:
        fail(*error_text(error_class_name(exc), str(exc), exc.hint), EXIT["usage"])
    except CrowdveilError as exc:
        fail(*error_text(error_class_name(exc), str(exc), exc.hint), EXIT["failed"])


def fail(message: str, hint: str | None, code: int) -> NoReturn:
    """Print ``message`` and what to do on stderr, in the user's language, and exit with ``code``."""
    err_console.print(f"[bold red]crowdveil:[/] {shown(message)}", soft_wrap=True)
    if hint:
        err_console.print("  " + t("label.what_to_do", hint=shown(hint)), soft_wrap=True)
    sys.exit(code)
