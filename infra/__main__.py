"""Entry 3: the Pulumi program. Reads the stack's config, builds the stack, exports its outputs.

A stack named ``<env>-<layer>`` (infra/layer.py) builds one layer of environment ``<env>``, with the
settings of ``Pulumi.<env>.yaml`` under its own config; a stack named ``<env>`` builds all of them.

Pulumi runs this file with ``infra/`` as the program directory, so the repository root
is put on ``sys.path`` first to make ``infra`` importable as a package (the tests import
it the same way). Nothing else belongs here.
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import pulumi  # noqa: E402

from infra.config import environment_settings, load_config  # noqa: E402
from infra.layer import split_stack  # noqa: E402
from infra.stack import build_stack  # noqa: E402

environment, layer = split_stack(pulumi.get_stack())
settings = environment_settings(Path(__file__).resolve().parent.parent / f"Pulumi.{environment}.yaml") if layer else {}
outputs = build_stack(load_config(pulumi.Config("trellis"), environment, layer, settings))
for key, value in outputs.as_dict().items():
    if value is not None:
        pulumi.export(key, value)
