"""Shared setup for every scenario's testinfra suite (see _shared/labinfra.py)."""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "_shared"))
