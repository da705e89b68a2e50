from layerlab.main import entry

entry()
