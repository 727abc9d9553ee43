"""python -m iked"""

import sys

from iked.cli import main

sys.exit(main())
