"""[tooling] ``python -m gradientcoin_edu`` is the ``gradientcoin`` command."""
import sys

from .cli import main

sys.exit(main())
