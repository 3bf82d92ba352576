"""splitbench: benchmark harness for privacy-preserving LLM serving split between device and cloud.

The import root of the project. Its four rooms live in the repository's top-level folders and are
installed beneath this package: ``splitbench.models`` (models/), ``splitbench.netsim`` (netsim/),
``splitbench.harness`` (harness/) and ``splitbench.reports`` (reports/). Nothing is installed as a
top-level ``models`` or ``reports`` package, so a user's own packages of those names never shadow
ours.
"""

from __future__ import annotations

import os as _os

# A source checkout (the repository itself on sys.path, without an install): the rooms are the
# folders beside this one. An installed copy has them inside this package instead.
_checkout = _os.path.dirname(_os.path.dirname(_os.path.abspath(__file__)))
if not _os.path.isdir(_os.path.join(_os.path.dirname(__file__), "models")) and _os.path.isfile(
    _os.path.join(_checkout, "pyproject.toml")
):
    __path__.append(_checkout)  # type: ignore[name-defined]  # noqa: F821


class SplitbenchError(ValueError):
    """Bad input: the message is one line naming the field or file and the problem.

    The one error type for bad user input anywhere in splitbench: the command line turns exactly
    this exception into one line on stderr and exit status 2, so every room can reject bad input
    without knowing about the CLI. Subclasses ValueError so library users can catch it the ordinary
    way.
    """


__all__ = ["SplitbenchError"]
