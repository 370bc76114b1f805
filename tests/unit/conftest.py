"""Make the collection importable as ansible_collections.medimaging.pacs_lb.

`make` creates .build/collections/ansible_collections/medimaging/pacs_lb as a
link to the work tree; pytest.ini puts .build/collections on sys.path.
"""
import os
import sys

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
LINK = os.path.join(ROOT, ".build", "collections", "ansible_collections", "medimaging", "pacs_lb")
if not os.path.exists(LINK):
    os.makedirs(os.path.dirname(LINK), exist_ok=True)
    os.symlink(os.path.relpath(ROOT, os.path.dirname(LINK)), LINK)
sys.path.insert(0, os.path.join(ROOT, ".build", "collections"))
