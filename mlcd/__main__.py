from mlcd.cli import main

raise SystemExit(main())
