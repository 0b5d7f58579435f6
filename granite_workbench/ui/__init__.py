"""The Gradio demo: `build_demo(Workbench(...))`; `app.py` parses flags and launches it."""

from ..session import Workbench
from .layout import build_demo

__all__ = ["Workbench", "build_demo"]
