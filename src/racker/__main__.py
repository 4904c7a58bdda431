"""`python -m racker` is `racker`."""

import sys

from racker.cli.main import main

sys.exit(main())
