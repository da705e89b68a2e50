from layerlab.server.client import entry

entry()
