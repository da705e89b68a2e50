"""The command line, Docker's: `grammar` parses it, `handlers` runs it, `stdio` attaches it.

`grammar` imports no engine (the TUI's command bar completes from it);
`handlers.dispatch(engine, ns, io)` runs a parsed command and returns a
`Report` of what it touched. The entry point is `layerlab.main`; nothing here
imports the TUI.
"""
