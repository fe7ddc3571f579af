"""Repository-root conftest: lets `pytest` run from a checkout before installation."""
