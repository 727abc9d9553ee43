"""python -m kinkd"""

import sys

from kinkd.cli import main

sys.exit(main())
