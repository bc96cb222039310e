import sys

from rtmotion.cli import main

sys.exit(main())
