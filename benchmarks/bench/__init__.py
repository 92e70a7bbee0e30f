"""refreshsts benchmarks: one module per figure family, one shared harness.

Importing the package puts the repository's tests/ on sys.path, so every family uses the shared
fixtures (moto server, STS proxy, redis-server) instead of copies, and src/ when refreshsts is not
installed.
"""

import importlib.util
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent.parent
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "tests" / "integration"))  # account_memory
if importlib.util.find_spec("refreshsts") is None:
    sys.path.insert(0, str(ROOT / "src"))
