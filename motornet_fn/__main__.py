"""``python -m motornet_fn`` runs the command-line interface."""
import sys

from motornet_fn.cli import main

if __name__ == "__main__":  # importing the module (documentation tools do) must not run the CLI
    sys.exit(main())
