"""``python -m motornet_fn`` runs the command-line interface."""
import sys

from motornet_fn.cli import main

sys.exit(main())
