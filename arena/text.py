"""Text that came from a team (an error line, a traceback, a log tail), made safe to keep and show.

Whatever a sandbox, a stored record or a hand-edited row holds where text belongs (an object, a
list, a number, a megabyte of one line), the host turns it into a `str` of bounded length here,
so a record can always be built, stored and rendered, and a hostile value ends as readable text
in the team's own error instead of an exception somewhere on arena's side.
"""

from __future__ import annotations

import re
from typing import Any

ERROR_MAX = 2000  # one error line, as a task row's diagnostic
TRACEBACK_MAX = 20_000
LOGS_MAX = 20_000
_CUT = " [... cut]"
# What a terminal or a viewer acts on instead of showing: C0 controls but tab and newline (ESC
# starts every ANSI/OSC sequence, CR overwrites the line), DEL, the C1 controls (0x9b is a
# one-byte CSI), and Unicode's bidirectional overrides and isolates (text shown reversed).
CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def plain_text(value: Any, limit: int | None) -> str | None:
    """`value` as text of at most `limit` characters (None stays None; limit None: any length).
    A non-str is shown as Python would print it; one that cannot even be printed (too deep, an
    int too long to print) is named by its type."""
    if value is None:
        return None
    if not isinstance(value, str):
        try:
            value = str(value)
        except Exception:  # RecursionError, ValueError (int digits limit), a hostile __str__
            value = f"<{type(value).__name__} that cannot be shown>"
    value = value.replace("\x00", "\ufffd")  # a NUL cuts text short in C-backed stores and viewers
    if limit is not None and len(value) > limit:
        value = value[: max(0, limit - len(_CUT))] + _CUT
    return value


def one_line(value: Any, limit: int = ERROR_MAX) -> str:
    """`plain_text` on one line (newlines and tabs as spaces): an error message or a cell."""
    text = plain_text(value, limit) or ""
    return " ".join(text.split())


def terminal_text(value: Any) -> str:
    """Text from a team as the organiser's terminal may print it: every control character
    (`CONTROL`) shown as U+FFFD, so no escape sequence of the team's is acted on."""
    return CONTROL.sub("\ufffd", plain_text(value, None) or "")
