"""`python -m portail_agent` and the zipapp's entry point."""

import sys

from portail_agent.cli import main

sys.exit(main())
