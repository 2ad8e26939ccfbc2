"""Helpers the tests share (builders, oracles, damage): imported as ``helpers.<module>``; fixtures live in
each folder's ``conftest.py``."""
