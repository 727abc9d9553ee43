"""``python -m racoon2.setup``: racoon2-setup."""

import sys

from racoon2.setup.cli import main

sys.exit(main())
