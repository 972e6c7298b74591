"""``python -m askarchive.cli`` runs the same command line as the ``askarchive`` script."""

import sys

from askarchive.cli.main import main

sys.exit(main())
