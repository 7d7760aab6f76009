"""Trellis infrastructure: the Pulumi program (entry point ``infra/__main__.py``).

Importing this package or any module under it creates no resources and reads no
environment; only ``infra/__main__.py`` does (STYLE.md rule 1).
"""
