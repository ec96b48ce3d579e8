"""Example systems that ship with Orchestra (not part of the installed package)."""
