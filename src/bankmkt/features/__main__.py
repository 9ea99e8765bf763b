import sys

from bankmkt.features.cli import main

sys.exit(main())
