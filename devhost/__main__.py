import sys

from devhost.host import main

sys.exit(main())
