"""The automatic message-only class of benchmarks/mutation.py: a survivor counts as message-only when nothing but
the arguments of a raised exception change, never when the condition, the type raised or the computation does."""
import importlib.util
from pathlib import Path

import pytest

_spec = importlib.util.spec_from_file_location("mutation_script",
                                               Path(__file__).resolve().parent.parent / "benchmarks" / "mutation.py")
mutation = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(mutation)

ORIGINAL = '''
def check(x, name):
    if x <= 0:
        raise ValueError(f"{name} must be > 0, got {x!r}; pass a positive number")
    return 2.0 * x
'''


@pytest.mark.parametrize("mutated, message_only", [
    (ORIGINAL.replace("must be > 0", "XXmust be > 0XX"), True),
    (ORIGINAL.replace("{x!r}", "{None!r}"), True),
    (ORIGINAL.replace("pass a positive number", "PASS A POSITIVE NUMBER"), True),
    (ORIGINAL.replace("x <= 0", "x < 0"), False),           # the condition
    (ORIGINAL.replace("ValueError", "TypeError"), False),   # the type raised
    (ORIGINAL.replace("2.0 * x", "3.0 * x"), False),        # the computation
    (ORIGINAL, False),                                      # no change is no mutant
    (ORIGINAL.replace("return 2.0 * x", "return (2.0 *"), False),   # unparsable: not classified
])
def test_message_only_change(mutated, message_only):
    assert mutation.message_only_change(ORIGINAL, mutated) is message_only


def test_message_only_change_of_a_method():
    method = "    def f(self):\n        raise RuntimeError('a')\n"
    assert mutation.message_only_change(method, method.replace("'a'", "'XXaXX'"))
