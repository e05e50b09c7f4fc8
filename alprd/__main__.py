from alprd.cli import main

raise SystemExit(main())
