"""`python -m reconcile._cli`: the `reconcile` command."""

import sys

from reconcile._cli import main

sys.exit(main())
