import sys
from pathlib import Path

# benches/ helpers import as plain modules.
sys.path.insert(0, str(Path(__file__).parent))
