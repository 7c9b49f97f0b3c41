# Unit tests mirror modules: tests/unit/<module>/local.mk
include tests/unit/common/local.mk
