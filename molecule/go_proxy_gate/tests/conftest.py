"""The go_proxy scenarios use the helpers in molecule/_go_proxy (golab.py)."""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), os.pardir, os.pardir, "_go_proxy"))
