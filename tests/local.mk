# Unit tests mirror modules: tests/unit/<module>/local.mk
include tests/unit/common/local.mk
include tests/unit/codec/local.mk
include tests/unit/format/local.mk
include tests/unit/pull/local.mk
include tests/unit/server/dist.mk
include tests/unit/server/local.mk
include tests/unit/engine/local.mk
include tests/unit/tokenizer/local.mk
include tests/fuzz/local.mk
include tests/unit/import/local.mk
include tests/unit/bench/local.mk
# CLI integration: every real model through compress/verify/decompress, and bad input.
TESTS += tests/integration/test_cli.sh
dist_noinst_SCRIPTS += tests/integration/test_cli.sh
# Faults (hardening): kill -9 and a full disk during compress, corrupted .hlm files.
TESTS += tests/integration/test_faults.sh
dist_noinst_SCRIPTS += tests/integration/test_faults.sh
# EntroLLM mode end to end: quantized compress/verify/inspect/eval and huffllmd serving it.
TESTS += tests/integration/test_quant.sh
dist_noinst_SCRIPTS += tests/integration/test_quant.sh
