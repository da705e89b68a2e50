"""Docker's command language, shared by every face: `grammar` parses it, `handlers` runs it.

The terminal (`layerlab.main`), the TUI's command bar and the lessons all run
commands through here: `grammar` imports no engine (the command bar completes
from it); `handlers.dispatch(engine, ns, io)` runs a parsed command and returns
a `Report` of what it touched; `stdio` carries its streams. Nothing here
imports a face.
"""
