"""Assertions for users' test suites: ``assert_gradients_close`` wraps ``difflab.gradcheck``.

    def test_my_backprop():
        assert_gradients_close(loss, params, grad=my_backprop)

fails with ``AssertionError`` carrying gradcheck's table (the parameters that disagree, their
worst entries) instead of a dump of the whole gradient. An *inconclusive* check (a leaf with
every entry at a kink, so nothing vouches for it) fails too: a test should pick a point
where the gradient can be judged.
"""

from .gradcheck import gradcheck


def assert_gradients_close(f, params, grad=None, **options):
    """Raise AssertionError with gradcheck's table unless the check passed (every leaf judged
    and within tolerance); return the result.

    ``options`` are gradcheck's: methods, rtol, atol, seed, mode, order.
    """
    result = gradcheck(f, params, grad, **options)
    if not result.passed:
        raise AssertionError("\n" + str(result))
    return result
