"""Entry 3: the Pulumi program. Reads the stack's config, builds the stack, exports its outputs.

Pulumi runs this file with ``infra/`` as the program directory, so the repository root
is put on ``sys.path`` first to make ``infra`` importable as a package (the tests import
it the same way). Nothing else belongs here.
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import pulumi  # noqa: E402

from infra.config import load_config  # noqa: E402
from infra.stack import build_stack  # noqa: E402

outputs = build_stack(load_config(pulumi.Config("trellis"), pulumi.get_stack()))
for key, value in outputs.as_dict().items():
    if value is not None:
        pulumi.export(key, value)
