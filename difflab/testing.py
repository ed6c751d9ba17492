"""Assertions for users' test suites: ``assert_gradients_close`` wraps ``difflab.gradcheck``.

    def test_my_backprop():
        assert_gradients_close(loss, params, grad=my_backprop)

fails with ``AssertionError`` carrying gradcheck's table (the parameters that disagree, their
worst entries) instead of a dump of the whole gradient.
"""

from .gradcheck import gradcheck


def assert_gradients_close(f, params, grad=None, **options):
    """Raise AssertionError with gradcheck's table unless every leaf passes; return the result.

    ``options`` are gradcheck's: methods, rtol, atol, seed, mode, order.
    """
    result = gradcheck(f, params, grad, **options)
    if not result.passed:
        raise AssertionError("\n" + str(result))
    return result
