from mlxstudio.cli import main

raise SystemExit(main())
