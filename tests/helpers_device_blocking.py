"""Run ``python -m device`` with some modules made unimportable; list what it imported.

Usage: ``python helpers_device_blocking.py BLOCKED MODULES_JSON -m device [ARGS...]``

``BLOCKED`` is a comma-separated list of top-level modules (``numpy,hwsim``) set to ``None``
in ``sys.modules`` before anything else runs, so importing one raises ``ImportError``
("import of numpy halted; None in sys.modules"), as on a board that does not have it.
At exit, the names of every module imported are written to ``MODULES_JSON``.
tests/test_remote_board.py hands this script to ``hwsim.remote.serve_device`` as the
interpreter, which appends ``-m device --sim-socket PATH ...``.
"""

import atexit
import json
import runpy
import sys

blocked, modules_json, flag, module, *rest = sys.argv[1:]
if flag != "-m":
    sys.exit(f"usage: {sys.argv[0]} BLOCKED MODULES_JSON -m MODULE [ARGS...]")
for name in filter(None, blocked.split(",")):
    sys.modules[name] = None


def _dump() -> None:
    names = sorted(name for name, mod in sys.modules.items() if mod is not None)
    with open(modules_json, "w", encoding="utf-8") as f:
        json.dump(names, f)


atexit.register(_dump)
sys.argv = [module, *rest]
runpy.run_module(module, run_name="__main__", alter_sys=True)
