"""`python -m gam` runs the `gam-train` command."""

import sys

from gam.cli import main

sys.exit(main())
