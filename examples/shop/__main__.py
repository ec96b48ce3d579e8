"""``python -m examples.shop``: see examples/shop/launcher.py and README.md."""

import sys

from examples.shop.launcher import main

sys.exit(main())
