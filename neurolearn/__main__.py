"""``python -m neurolearn``: the ``neurolearn`` command."""
import sys

from neurolearn.cli import main

sys.exit(main())
