"""``python -m ferbench`` runs the CLI."""

import sys

from ferbench.cli import main

sys.exit(main())
