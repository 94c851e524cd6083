/* A fake src/ tree for tests/integration/layering.sh: one allowed and one forbidden include. */
#include <stdio.h>

#include "connect/connect.h" /* forbidden: stage lake -> stage connect (sideways) */
#include "parquet/parquet.h" /* allowed: stage lake -> service parquet (downward) */
