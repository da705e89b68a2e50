from layerlab.client import entry

entry()
