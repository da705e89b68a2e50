from layerlab.main import main

raise SystemExit(main())
