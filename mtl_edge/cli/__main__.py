"""``python -m mtl_edge.cli`` runs the command line, as ``python -m mtl_edge`` does."""

import sys

from . import main

sys.exit(main())
