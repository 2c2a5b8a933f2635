from messenger.cli import main

raise SystemExit(main())
