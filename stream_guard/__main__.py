from stream_guard.runtime.cli import main

raise SystemExit(main())
