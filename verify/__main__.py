"""`python -m verify` is the `twinflow` command."""
import sys

from verify.command import main

sys.exit(main())
