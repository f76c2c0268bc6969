import sys

from cnnrank.cli import main

sys.exit(main())
