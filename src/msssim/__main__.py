"""``python -m msssim``: the command line, as the ``msssim`` script runs it."""

from msssim.cli import main

raise SystemExit(main())
