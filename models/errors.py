"""The one error type for bad user input anywhere in splitbench.

Why a single type: the command line turns exactly this exception into one line on stderr and exit
status 2, so every room (models, netsim, harness, reports) can reject bad input without knowing about
the CLI. Subclasses ValueError so library users can catch it the ordinary way.
"""


class SplitbenchError(ValueError):
    """Bad input: the message is one line naming the field or file and the problem."""
