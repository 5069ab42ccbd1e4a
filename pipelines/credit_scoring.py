"""Same as ``riskkd run pipelines/credit_scoring.yaml [--set KEY=VALUE ...]`` (for old links)."""

import sys

from riskkd.cli import app

app(["run", __file__.removesuffix(".py") + ".yaml", *sys.argv[1:]], prog_name="riskkd")
