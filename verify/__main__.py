"""`python -m verify` is the `twinflow` command."""
import sys

from verify.cli import main

sys.exit(main())
