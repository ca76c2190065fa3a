from sessionfence.cli import main

raise SystemExit(main())
