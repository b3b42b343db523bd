"""Schemathesis's command line (`st`), with one CPython 3.11 bug worked around: python -m fuzz.st run ...

Hypothesis names a lambda in a strategy's repr by parsing its source with ast.parse; deep in the stack of a
recursive strategy (any JSON value, which an Item's extra keys may hold) CPython 3.11 raises "SystemError: AST
constructor recursion depth mismatch" there, and Schemathesis reports the whole operation as an error. The name is
only ever shown in messages, so a lambda that cannot be parsed there is called "lambda: <unknown>".
"""

import sys

from hypothesis.internal import lambda_sources

_describe = lambda_sources._lambda_description


def _described_or_unknown(function):
    try:
        return _describe(function)
    except SystemError:
        return "lambda: <unknown>"


lambda_sources._lambda_description = _described_or_unknown

if __name__ == "__main__":
    from schemathesis.cli import schemathesis

    sys.exit(schemathesis())
