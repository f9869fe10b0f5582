"""Test-only: a plugin with a misspelt hook name; zchat must refuse it with a clear message."""
import zchat


@zchat.hookimpl
def zchat_regsiter_frontends(register):
    register("typo-ui", object, help="never offered")
