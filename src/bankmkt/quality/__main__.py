"""`python -m bankmkt.quality --date D [--suite NAME]`: run the gate by hand."""

from bankmkt.quality import main

raise SystemExit(main())
