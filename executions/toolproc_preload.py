"""Imported once by the tool pool's fork server (``executions.toolpool``).

Django is set up and every built-in tool module and library loaded here, before any tool process
is forked: each process then starts in milliseconds, warm, and shares these pages with
its siblings instead of loading the tool libraries again.
"""

import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mcpsite.settings")

import django

django.setup()

from mcpsite import gctuning  # noqa: E402
from tools.lazy import load_all  # noqa: E402
from tools.registry import registry  # noqa: E402

# The tool libraries, which the web process never loads (tools.lazy): loaded once here,
# every tool process forked from this one shares them.
load_all()

# A tool process runs only the tools it is sent; the loaders (federation reads its stored
# listings from the database) are the serving process's business.
registry.clear_loaders()

# What is loaded here lives as long as the tool processes: frozen out of the garbage
# collector's walks, a tool process's full collection neither takes 150-300 ms nor writes
# to every shared page (which copied about 100 MB into each process at its first one).
gctuning.tune_for_serving()
