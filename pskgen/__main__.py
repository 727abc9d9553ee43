"""python -m pskgen"""

import sys

from pskgen.cli import main

sys.exit(main())
