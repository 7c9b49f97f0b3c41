# engine/: the model at run time (forward pass on compressed tiles, sampler, stop strings).
noinst_LIBRARIES += src/engine/libhl_engine.a
HL_ENGINE_LIB = src/engine/libhl_engine.a
src_engine_libhl_engine_a_SOURCES = \
	src/engine/pool.c src/engine/pool.h \
	src/engine/kernels.c src/engine/kernels.h \
	src/engine/gemv.c src/engine/gemv.h \
	src/engine/model.c src/engine/model.h \
	src/engine/fused.c src/engine/fused.h \
	src/engine/engine.c src/engine/exec.h \
	src/engine/forward.c \
	src/engine/sampler.c \
	src/engine/stop.c \
	src/engine/eval.c src/engine/eval.h
