"""The agent is its own distribution (agent/): its tests import it from its source folder."""

import sys

from tests.agent.helpers import AGENT_DIR

if str(AGENT_DIR / "src") not in sys.path:
    sys.path.insert(0, str(AGENT_DIR / "src"))
