"""The engine: one method per Docker verb on `Engine` (facade.py), the only writer of the store.

The façade hands each verb to the module of its group, which is given the engine as a
`Context` (context.py: the store, the runtime, records read as they truly are):
create.py, start.py and lifecycle.py a container's life; inside.py what runs in one
(exec, attach, logs, top, cp, diff); images.py commit, build, tag, rmi, history,
save/load, import/export; inspect.py; sysinfo.py, prune.py and fsck.py the `system`
verbs. recovery.py tells and cures what a killed command or a dead shim left, for
the engine and for `system check` alike. The state table is storage/containers.py's.
"""

from layerlab.engine.facade import Engine
from layerlab.engine.images import HistoryRow
from layerlab.engine.inside import LogEntry
from layerlab.layerfs.unionfs import WritableLayer
from layerlab.runtime.launch import Stdio
from layerlab.storage.containers import CreateOptions
from layerlab.storage.volumes import Mounted, mounts_of

# Re-exported: the faces and the tests import these from here.
__all__ = [
    "CreateOptions",
    "Engine",
    "HistoryRow",
    "LogEntry",
    "Mounted",
    "Stdio",
    "WritableLayer",
    "mounts_of",
]
