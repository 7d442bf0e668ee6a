"""Write session_v1.snirf with the session writer of commit 1c85c26 (layout version 1).

Run from a checkout of that commit (see README.md here): it imports that checkout's
``host.snirf_writer`` and ``tests/test_dataset.py``.
"""

import dataclasses
import sys
from datetime import datetime, timezone

sys.path.insert(0, "tests")
from test_dataset import make_record

from host.snirf_writer import write_session

record = dataclasses.replace(
    make_record(), start_utc=datetime(2025, 3, 4, 8, 11, 12, 345678, tzinfo=timezone.utc)
)
write_session(sys.argv[1], record)
