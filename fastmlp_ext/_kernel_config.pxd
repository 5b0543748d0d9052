# Shared constants of the kernels.

# Elementwise passes (activations, optimizer steps) go parallel only above
# this many elements: below it the OpenMP fork/join costs more than it saves.
cdef enum:
    PARALLEL_MIN_ELEMENTS = 32768

# Row block of the chunked reductions (bias gradients). Partial sums are
# formed per block and added in block order, so the result does not depend
# on how many threads computed the blocks.
cdef enum:
    REDUCTION_BLOCK_ROWS = 64
