import sys
from pathlib import Path

# Lets the test modules import the local `helpers` without a package __init__.
sys.path.insert(0, str(Path(__file__).parent))
