import pytest


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Leaves out the standard-suite tests a module lists in ``NOT_APPLICABLE`` (test class name ->
    test name -> why). The suites forbid overriding their tests, and a test that would only skip
    is not run: every test collected here runs and must pass."""
    kept, dropped = [], []
    for item in items:
        listed = getattr(getattr(item, "module", None), "NOT_APPLICABLE", {})  # doctests have no module
        cls = getattr(item, "cls", None)
        name = getattr(item, "originalname", item.name)
        (dropped if cls is not None and name in listed.get(cls.__name__, {}) else kept).append(item)
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = kept
