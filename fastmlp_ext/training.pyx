"""The compiled training loops: every step without the GIL.

* ``train_epoch``: one call runs a whole epoch over ``order`` (the sample
  indices in batch order). Python regains control once per epoch.
* ``loss_gradient``: the full-batch loss and gradient (lbfgs), one call.
* ``forward_logits``: the whole network's forward pass (predict), one call.

Parallelism that keeps the model identical at any thread count. Each batch
of ``train_epoch`` runs in two parallel phases:

1. Rows. The batch is cut into chunks whose size depends on the batch size
   only (never on the thread count). Threads take whole chunks: gather the
   rows, forward, loss, and the deltas of every layer (``delta @ W^T``), on
   single-threaded BLAS. Rows are independent, so nothing is summed across
   chunks.
2. Parameters. The weight gradients ``A^T @ delta`` sum over the batch's
   rows. They are cut into fixed blocks of rows of each weight matrix (a
   function of the layer sizes only); a thread takes a block, computes it
   with one GEMM over the whole batch, adds the L2 term and applies the
   optimizer to that block while it is in cache. One more block does the
   bias gradients (row sums in fixed row blocks) and their update.

Every number is thus computed by the same operations in the same order
whichever thread runs it, and there is no chunk gradient to add up.

Workspace buffers are allocated once per fit (``fastmlp/_epoch.py``);
nothing is allocated per step.
"""

from cython cimport floating
from cython.parallel cimport prange, threadid
from libc.math cimport sqrt
from libc.string cimport memcpy

import numpy as np

cimport numpy as cnp

cnp.import_array()

from .activations cimport IDENTITY
from .dense cimport (dense_forward_ptr, dense_input_gradient_ptr, dense_weight_gradient_ptr,
                     sum_rows_ptr, sum_rows_scratch_size)
from .loss cimport sigmoid_binary_cross_entropy_ptr, softmax_cross_entropy_ptr
from .optimizers cimport adam_step_ptr, l2_penalty_ptr, sgd_step_ptr

cdef enum:
    # Parameters per block of the weight-gradient + optimizer phase. Each
    # block's GEMM packs the whole delta matrix again, so fewer, larger blocks
    # are faster: on the tutorial network 2 blocks of the first layer ran its
    # epoch ~5% faster than 7 (one run of each size, same process); a block's
    # weights, gradient and moments (4 x 256 KiB in float32) still fit in L2.
    GRADIENT_BLOCK_PARAMS = 65536
    # Upper bound on the number of weight layers (a C array size below).
    MAX_LAYERS = 64

cdef enum Optimizer:
    ADAM = 0
    SGD = 1


def chunk_rows_for(Py_ssize_t batch_size):
    """Rows per chunk for this batch size: about 128 (measured faster than 64
    on the tutorial network: fewer, larger GEMMs), at least 2 chunks from 64
    rows up so two threads share a batch, at most 8, balanced. A function of
    the batch size only, never of the thread count: that is what makes the
    result thread-count independent."""
    cdef Py_ssize_t n_chunks = (batch_size + 127) // 128
    n_chunks = min(8, max(1 if batch_size < 64 else 2, n_chunks))
    return (batch_size + n_chunks - 1) // n_chunks


def gradient_blocks(layer_units):
    """The fixed blocks of the parameter phase, as rows ``(layer, start, stop)``:
    rows ``start:stop`` of layer ``layer``'s weight matrix, about
    ``GRADIENT_BLOCK_PARAMS`` weights each, balanced within a layer; then one
    row ``(n_layers, 0, 0)`` for all the biases. A function of the layer sizes
    only (never of the thread count or batch size)."""
    units = [int(u) for u in layer_units]
    n_layers = len(units) - 1
    blocks = []
    for layer in range(n_layers):
        n_in, n_out = units[layer], units[layer + 1]
        n_blocks = max(1, min(n_in, -(-n_in * n_out // GRADIENT_BLOCK_PARAMS)))
        rows = -(-n_in // n_blocks)
        for start in range(0, n_in, rows):
            blocks.append((layer, start, min(start + rows, n_in)))
    blocks.append((n_layers, 0, 0))
    return np.asarray(blocks, dtype=np.intp)


cdef struct Net:
    Py_ssize_t n_layers            # weight layers
    Py_ssize_t units[MAX_LAYERS + 1]
    Py_ssize_t coef_offset[MAX_LAYERS]
    Py_ssize_t intercept_offset[MAX_LAYERS]
    Py_ssize_t out_offset[MAX_LAYERS]    # layer outputs inside a workspace buffer
    Py_ssize_t delta_offset[MAX_LAYERS]  # hidden deltas inside a workspace buffer
    Py_ssize_t n_params
    Py_ssize_t n_coef_params
    int activation
    bint softmax_output


cdef struct Buffers:
    # One workspace holds ``rows`` rows: per layer, a (rows x units) block of
    # outputs (and of deltas for hidden layers), one after the other.
    Py_ssize_t rows
    Py_ssize_t x_stride        # elements of one workspace's gathered X
    Py_ssize_t out_stride      # elements of one workspace's layer outputs
    Py_ssize_t delta_stride
    Py_ssize_t target_stride
    Py_ssize_t scratch_stride  # doubles of one workspace's reduction scratch


cdef struct OptimizerStep:
    int kind          # ADAM or SGD
    double step_size  # Adam's bias-corrected step, or SGD's learning rate
    double beta_1
    double beta_2
    double epsilon
    double momentum
    bint nesterov


cdef void _rows_forward_backward(
        const floating* X, Py_ssize_t n_features, const int* labels,
        const floating* targets, const floating* sample_weight, const Py_ssize_t* rows,
        Py_ssize_t row0, Py_ssize_t n_rows, const floating* params,
        floating* x_buf, floating* out_buf, floating* delta_buf, int* label_buf,
        floating* target_buf, floating* weight_buf, double grad_scale,
        double* sample_loss, unsigned char* sample_correct,
        const Net* net) noexcept nogil:
    """Rows ``row0:row0 + n_rows`` of a workspace: gather them from X, forward,
    loss, and every layer's delta. Writes nothing outside those rows."""
    cdef Py_ssize_t r, l, idx, L = net.n_layers
    cdef Py_ssize_t n_out = net.units[L]
    cdef floating* x_rows = x_buf + row0 * n_features
    cdef int* label_rows = label_buf + row0
    cdef floating* target_rows = target_buf + row0 * n_out
    cdef floating* weight_rows = weight_buf + row0
    cdef const floating* layer_in
    cdef floating* layer_out
    cdef floating* delta
    cdef floating* delta_below
    for r in range(n_rows):
        idx = rows[r]
        memcpy(x_rows + r * n_features, X + idx * n_features, n_features * sizeof(floating))
        if net.softmax_output:
            label_rows[r] = labels[idx]
        else:
            memcpy(target_rows + r * n_out, targets + idx * n_out, n_out * sizeof(floating))
        if sample_weight != NULL:
            weight_rows[r] = sample_weight[idx]
    layer_in = x_rows
    for l in range(L):
        layer_out = out_buf + net.out_offset[l] + row0 * net.units[l + 1]
        dense_forward_ptr(layer_in, params + net.coef_offset[l],
                          params + net.intercept_offset[l], layer_out, <int> n_rows,
                          <int> net.units[l], <int> net.units[l + 1],
                          IDENTITY if l == L - 1 else net.activation, 1)
        layer_in = layer_out
    # The loss turns the logits into the output delta, in place.
    delta = out_buf + net.out_offset[L - 1] + row0 * n_out
    if net.softmax_output:
        softmax_cross_entropy_ptr(delta, label_rows,
                                  weight_rows if sample_weight != NULL else NULL,
                                  grad_scale, sample_loss, sample_correct, n_rows, n_out, 1)
    else:
        sigmoid_binary_cross_entropy_ptr(delta, target_rows,
                                         weight_rows if sample_weight != NULL else NULL,
                                         grad_scale, sample_loss, sample_correct, n_rows,
                                         n_out, 1)
    for l in range(L - 1, 0, -1):
        delta_below = delta_buf + net.delta_offset[l - 1] + row0 * net.units[l]
        dense_input_gradient_ptr(out_buf + net.out_offset[l - 1] + row0 * net.units[l],
                                 params + net.coef_offset[l], delta, delta_below,
                                 <int> n_rows, <int> net.units[l], <int> net.units[l + 1],
                                 net.activation, 1)
        delta = delta_below


cdef inline const floating* _layer_input(const floating* x_buf, const floating* out_buf,
                                         Py_ssize_t layer, const Net* net) noexcept nogil:
    return x_buf if layer == 0 else out_buf + net.out_offset[layer - 1]


cdef inline const floating* _layer_delta(const floating* out_buf, const floating* delta_buf,
                                         Py_ssize_t layer, const Net* net) noexcept nogil:
    if layer == net.n_layers - 1:
        return out_buf + net.out_offset[layer]
    return delta_buf + net.delta_offset[layer]


cdef double _gradient_block_step(
        const Py_ssize_t* block, Py_ssize_t n_rows, floating* params, floating* grads,
        const floating* x_buf, const floating* out_buf, const floating* delta_buf,
        double* scratch, const Net* net, double l2_scale, const OptimizerStep* opt,
        floating* state_1, floating* state_2) noexcept nogil:
    """One block of the parameter phase: its gradient over the batch's
    ``n_rows`` rows, plus the L2 term, then the optimizer on it. Returns the
    block's sum of squared weights before the update (for the loss)."""
    cdef Py_ssize_t layer = block[0], row_start = block[1], row_stop = block[2]
    cdef Py_ssize_t l, start, stop, n_out
    cdef double sum_sq = 0
    if layer < net.n_layers:
        n_out = net.units[layer + 1]
        start = net.coef_offset[layer] + row_start * n_out
        stop = net.coef_offset[layer] + row_stop * n_out
        dense_weight_gradient_ptr(_layer_input(x_buf, out_buf, layer, net) + row_start,
                                  <int> net.units[layer],
                                  _layer_delta(out_buf, delta_buf, layer, net),
                                  grads + start, <int> n_rows,
                                  <int> (row_stop - row_start), <int> n_out)
        sum_sq = l2_penalty_ptr(params + start, grads + start, stop - start, l2_scale)
    else:
        for l in range(net.n_layers):
            sum_rows_ptr(_layer_delta(out_buf, delta_buf, l, net),
                         grads + net.intercept_offset[l], n_rows, net.units[l + 1], 1,
                         scratch)
        start, stop = net.n_coef_params, net.n_params
    if opt.kind == ADAM:
        adam_step_ptr(params + start, grads + start, state_1 + start, state_2 + start,
                      stop - start, opt.step_size, opt.beta_1, opt.beta_2, opt.epsilon, 1)
    else:
        sgd_step_ptr(params + start, grads + start, state_1 + start, stop - start,
                     opt.step_size, opt.momentum, opt.nesterov, 1)
    return sum_sq


cdef double _ordered_sum(const double* values, Py_ssize_t n) noexcept nogil:
    cdef double total = 0
    cdef Py_ssize_t i
    for i in range(n):
        total += values[i]
    return total


cdef double _run_epoch(
        const floating* X, Py_ssize_t n_features, const int* labels,
        const floating* targets, const floating* sample_weight,
        const Py_ssize_t* order, Py_ssize_t n_samples, Py_ssize_t batch_size,
        Py_ssize_t chunk_rows, floating* params, floating* grads, floating* state_1,
        floating* state_2, floating* x_buf, floating* out_buf, floating* delta_buf,
        int* label_buf, floating* target_buf, floating* weight_buf, double* scratch,
        double* sample_loss, unsigned char* sample_correct, const Py_ssize_t* blocks,
        Py_ssize_t n_blocks, double* l2_partials, const Net* net, double alpha,
        OptimizerStep* opt, double learning_rate, long* t, int n_threads) noexcept nogil:
    """One epoch; returns the sum over batches of batch loss times batch size."""
    cdef Py_ssize_t start, n_rows, n_chunks, c, row0, c_rows, i, b
    cdef double weight_sum, grad_scale, l2, batch_loss, total = 0
    start = 0
    while start < n_samples:
        n_rows = min(batch_size, n_samples - start)
        n_chunks = (n_rows + chunk_rows - 1) // chunk_rows
        if sample_weight == NULL:
            weight_sum = n_rows
        else:
            weight_sum = 0
            for i in range(n_rows):
                weight_sum += sample_weight[order[start + i]]
        grad_scale = 1.0 / weight_sum
        for c in prange(n_chunks, schedule="static", num_threads=n_threads,
                        use_threads_if=n_threads > 1 and n_chunks > 1):
            row0 = c * chunk_rows
            c_rows = min(chunk_rows, n_rows - row0)
            _rows_forward_backward(
                X, n_features, labels, targets, sample_weight, order + start + row0,
                row0, c_rows, params, x_buf, out_buf, delta_buf, label_buf, target_buf,
                weight_buf, grad_scale, sample_loss + start + row0,
                sample_correct + start + row0, net)
        t[0] += 1
        if opt.kind == ADAM:
            opt.step_size = (learning_rate * sqrt(1 - opt.beta_2 ** t[0])
                             / (1 - opt.beta_1 ** t[0]))
        # Blocks differ in size (the bias block is tiny): threads take the
        # next free one. Which thread runs a block does not change its bits.
        for b in prange(n_blocks, schedule="dynamic", num_threads=n_threads,
                        use_threads_if=n_threads > 1 and n_blocks > 1):
            l2_partials[b] = _gradient_block_step(
                blocks + 3 * b, n_rows, params, grads, x_buf, out_buf, delta_buf,
                scratch, net, alpha * grad_scale, opt, state_1, state_2)
        l2 = _ordered_sum(l2_partials, n_blocks)
        batch_loss = (_ordered_sum(sample_loss + start, n_rows) + 0.5 * alpha * l2) / weight_sum
        total += batch_loss * n_rows
        start += n_rows
    return total


cdef int _setup(
        Net* net, Buffers* buf, const Py_ssize_t[::1] layer_units, int activation,
        bint softmax_output, Py_ssize_t rows, Py_ssize_t n_chunks,
        const floating[:, ::1] X, const int[::1] labels, const floating[:, ::1] targets,
        const floating[::1] sample_weight, floating[::1] params,
        floating[:, ::1] x_chunks,
        floating[:, ::1] out_chunks, floating[:, ::1] delta_chunks,
        int[:, ::1] label_chunks, floating[:, ::1] target_chunks,
        floating[:, ::1] weight_chunks, double[:, ::1] scratch_chunks,
        double[::1] sample_loss, unsigned char[::1] sample_correct) except -1:
    """Describe the network and ``n_chunks`` workspaces of ``rows`` rows each
    for the pointer-level loops, and check every size and index those loops
    rely on (they run unchecked)."""
    cdef Py_ssize_t L = layer_units.shape[0] - 1, l, n_samples = X.shape[0]
    cdef Py_ssize_t offset = 0, out_total = 0, delta_total = 0, max_units = 0
    if L < 1 or L > MAX_LAYERS:
        raise ValueError(f"between 1 and {MAX_LAYERS} weight layers, got {L}")
    if layer_units[0] != X.shape[1]:
        raise ValueError(f"X has {X.shape[1]} features, the network {layer_units[0]}")
    net.n_layers = L
    net.activation = activation
    net.softmax_output = softmax_output
    for l in range(L + 1):
        net.units[l] = layer_units[l]
        max_units = max(max_units, layer_units[l])
    for l in range(L):
        net.coef_offset[l] = offset
        offset += layer_units[l] * layer_units[l + 1]
    net.n_coef_params = offset
    for l in range(L):
        net.intercept_offset[l] = offset
        offset += layer_units[l + 1]
    net.n_params = offset
    buf.rows = rows
    for l in range(L):
        net.out_offset[l] = out_total * rows
        out_total += layer_units[l + 1]
    for l in range(L - 1):
        net.delta_offset[l] = delta_total * rows
        delta_total += layer_units[l + 1]
    buf.x_stride = x_chunks.shape[1]
    buf.out_stride = out_chunks.shape[1]
    buf.delta_stride = delta_chunks.shape[1]
    buf.target_stride = target_chunks.shape[1]
    buf.scratch_stride = scratch_chunks.shape[1]
    if params.shape[0] != net.n_params:
        raise ValueError("parameter buffers do not match the layer sizes")
    if (x_chunks.shape[0] < n_chunks
            or out_chunks.shape[0] < n_chunks or delta_chunks.shape[0] < n_chunks
            or label_chunks.shape[0] < n_chunks or target_chunks.shape[0] < n_chunks
            or weight_chunks.shape[0] < n_chunks or scratch_chunks.shape[0] < n_chunks
            or buf.x_stride < rows * X.shape[1]
            or buf.out_stride < rows * out_total
            or buf.delta_stride < max(rows * delta_total, 1)
            or label_chunks.shape[1] < rows
            or weight_chunks.shape[1] < rows
            or buf.target_stride < rows * layer_units[L]
            or buf.scratch_stride < sum_rows_scratch_size(rows, max_units)):
        raise ValueError("workspace buffers are too small for this batch size")
    if sample_loss.shape[0] < n_samples or sample_correct.shape[0] < n_samples:
        raise ValueError("sample_loss/sample_correct are shorter than X")
    if n_samples == 0:
        return 0
    if softmax_output:
        if labels is None or labels.shape[0] != n_samples:
            raise ValueError("softmax output needs one label per row of X")
        labels_arr = np.asarray(labels)
        if labels_arr.min() < 0 or labels_arr.max() >= layer_units[L]:
            raise ValueError("labels outside [0, n_outputs)")
    elif (targets is None or targets.shape[0] != n_samples
          or targets.shape[1] != layer_units[L]):
        raise ValueError("logistic output needs a (n_samples, n_outputs) target array")
    if sample_weight is not None and sample_weight.shape[0] != n_samples:
        raise ValueError("sample_weight must have one entry per row of X")
    return 0


def train_epoch(
        const floating[:, ::1] X, const int[::1] labels, const floating[:, ::1] targets,
        const floating[::1] sample_weight, const Py_ssize_t[::1] order,
        Py_ssize_t batch_size, floating[::1] params, floating[::1] grads,
        floating[::1] state_1, floating[::1] state_2,
        floating[:, ::1] x_batch, floating[:, ::1] out_batch,
        floating[:, ::1] delta_batch, int[:, ::1] label_batch,
        floating[:, ::1] target_batch, floating[:, ::1] weight_batch,
        double[:, ::1] scratch_batch, double[::1] sample_loss,
        unsigned char[::1] sample_correct, const Py_ssize_t[::1] layer_units,
        int activation, bint softmax_output, double alpha, str optimizer,
        double learning_rate, double beta_1, double beta_2, double epsilon,
        double momentum, bint nesterov, long t, int n_threads):
    """Run one training epoch in compiled code; see the module docstring.

    The caller (``fastmlp._epoch.CompiledEpoch``) owns and sizes every buffer:
    one workspace (a single row of each ``*_batch`` array) of
    ``min(batch_size, len(X))`` rows, and ``grads`` of the parameters' size.
    This wrapper checks the sizes and indices that the pointer-level loop
    relies on, then releases the GIL for the whole epoch.

    Returns
    -------
    loss_sum : float
        Sum over batches of (batch loss x batch size), as scikit-learn accumulates.
    t : int
        The optimizer's step count after the epoch.
    """
    cdef Net net
    cdef Buffers buf
    cdef OptimizerStep opt
    cdef Py_ssize_t n_samples = X.shape[0], chunk_rows = chunk_rows_for(batch_size)
    cdef double total
    cdef long t_now = t
    if optimizer == "adam":
        opt.kind = ADAM
    elif optimizer == "sgd":
        opt.kind = SGD
    else:
        raise ValueError(f"optimizer must be 'adam' or 'sgd', got {optimizer!r}")
    opt.step_size = learning_rate
    opt.beta_1, opt.beta_2, opt.epsilon = beta_1, beta_2, epsilon
    opt.momentum, opt.nesterov = momentum, nesterov
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    _setup(&net, &buf, layer_units, activation, softmax_output,
           max(1, min(batch_size, n_samples)), 1, X, labels, targets, sample_weight,
           params, x_batch, out_batch, delta_batch, label_batch, target_batch,
           weight_batch, scratch_batch, sample_loss, sample_correct)
    if (grads.shape[0] != net.n_params or state_1.shape[0] != net.n_params
            or state_2.shape[0] != net.n_params):
        raise ValueError("gradient or optimizer state does not match the layer sizes")
    if order.shape[0] != n_samples:
        raise ValueError(f"order has {order.shape[0]} entries, X has {n_samples} rows")
    if n_samples == 0:
        return 0.0, t
    order_arr = np.asarray(order)
    if order_arr.min() < 0 or order_arr.max() >= n_samples:
        raise ValueError("order holds indices outside X")
    cdef const Py_ssize_t[:, ::1] blocks = gradient_blocks(layer_units)
    cdef double[::1] l2_partials = np.empty(blocks.shape[0], dtype=np.float64)
    with nogil:
        total = _run_epoch(
            &X[0, 0], X.shape[1], &labels[0] if softmax_output else NULL,
            NULL if softmax_output else &targets[0, 0],
            NULL if sample_weight is None else &sample_weight[0], &order[0], n_samples,
            batch_size, chunk_rows, &params[0], &grads[0], &state_1[0], &state_2[0],
            &x_batch[0, 0], &out_batch[0, 0], &delta_batch[0, 0], &label_batch[0, 0],
            &target_batch[0, 0], &weight_batch[0, 0], &scratch_batch[0, 0],
            &sample_loss[0], &sample_correct[0], &blocks[0, 0], blocks.shape[0],
            &l2_partials[0], &net, alpha, &opt, learning_rate, &t_now,
            max(n_threads, 1))
    return total, t_now


# ----------------------------------------------------------------- predict
cdef inline bint _all_finite(const floating* x, Py_ssize_t n) noexcept nogil:
    # x - x is 0 for a finite x and NaN for inf or NaN. An integer OR, unlike
    # a floating-point sum, can be reordered, so the compiler vectorises it.
    cdef Py_ssize_t i
    cdef int non_finite = 0
    for i in range(n):
        non_finite |= (x[i] - x[i]) != 0
    return non_finite == 0


cdef void _forward_blocks(
        const floating* X, Py_ssize_t n_rows, const Net* net,
        const floating** coefs, const floating** intercepts, floating* out,
        floating* work, Py_ssize_t block_rows, Py_ssize_t max_hidden,
        int n_threads, unsigned char* non_finite) noexcept nogil:
    """Logits of X, block by block of rows. Threads take whole blocks, each
    through its own two ping-pong buffers in ``work``; a row's logits do not
    depend on which thread computed its block. With ``non_finite`` (one flag
    per block), a block is first checked for inf/NaN (while it is loaded
    anyway) and skipped, flagged, if it has any."""
    cdef Py_ssize_t n_blocks = (n_rows + block_rows - 1) // block_rows
    cdef Py_ssize_t block, start, rows, l, L = net.n_layers
    cdef const floating* layer_in
    cdef floating* layer_out
    cdef floating* work_a
    cdef floating* work_b
    for block in prange(n_blocks, schedule="static", num_threads=n_threads,
                        use_threads_if=n_threads > 1 and n_blocks > 1):
        work_a = work + 2 * threadid() * block_rows * max_hidden
        work_b = work_a + block_rows * max_hidden
        start = block * block_rows
        rows = min(block_rows, n_rows - start)
        layer_in = X + start * net.units[0]
        if non_finite != NULL:
            non_finite[block] = not _all_finite(layer_in, rows * net.units[0])
            if non_finite[block]:
                continue
        for l in range(L):
            if l == L - 1:
                layer_out = out + start * net.units[L]
            else:
                layer_out = work_a if l % 2 == 0 else work_b
            dense_forward_ptr(layer_in, coefs[l], intercepts[l], layer_out, <int> rows,
                              <int> net.units[l], <int> net.units[l + 1],
                              IDENTITY if l == L - 1 else net.activation, 1)
            layer_in = layer_out


def forward_logits(cnp.ndarray X, list coefs, list intercepts, int activation,
                   Py_ssize_t block_rows=1024, int n_threads=1, bint check_finite=False):
    """Logits of ``X`` through the layers, in one compiled call.

    ``X``, every weight matrix and bias vector: C-contiguous, one dtype
    (float32 or float64), chained shapes. Rows go in blocks of
    ``block_rows``, so the work buffers stay small whatever len(X)
    (2 x block_rows x widest hidden layer per thread). With ``n_threads`` > 1
    threads take whole blocks, and each block's GEMMs should then run on
    single-threaded BLAS (the caller limits it); with 1, the GEMMs use BLAS
    as it is set. One call, no fused-type dispatch: a one-row prediction
    costs microseconds.

    With ``check_finite``, X is checked for inf and NaN inside the same pass
    and ``None`` is returned if it has any (the caller then raises its error).
    """
    cdef Net net
    cdef Py_ssize_t L = len(coefs), l, n_rows, max_hidden = 1
    cdef const void* coef_ptrs[MAX_LAYERS]
    cdef const void* intercept_ptrs[MAX_LAYERS]
    cdef cnp.ndarray coef, intercept
    if L < 1 or L > MAX_LAYERS or len(intercepts) != L:
        raise ValueError("coefs and intercepts must be lists of the same length >= 1")
    dtype = X.dtype
    if dtype != np.float32 and dtype != np.float64:
        raise ValueError(f"X must be float32 or float64, got {dtype}")
    if X.ndim != 2 or not X.flags.c_contiguous:
        raise ValueError("X must be a C-contiguous 2-D array")
    n_rows = X.shape[0]
    net.n_layers = L
    net.activation = activation
    net.units[0] = X.shape[1]
    for l in range(L):
        coef = coefs[l]
        intercept = intercepts[l]
        if (coef.dtype != dtype or intercept.dtype != dtype or coef.ndim != 2
                or intercept.ndim != 1 or not coef.flags.c_contiguous
                or not intercept.flags.c_contiguous):
            raise ValueError(f"layer {l}: weights must be C-contiguous {dtype} arrays")
        if coef.shape[0] != net.units[l] or intercept.shape[0] != coef.shape[1]:
            raise ValueError(f"layer {l}: shapes do not chain")
        net.units[l + 1] = coef.shape[1]
        coef_ptrs[l] = cnp.PyArray_DATA(coef)
        intercept_ptrs[l] = cnp.PyArray_DATA(intercept)
        if l < L - 1:
            max_hidden = max(max_hidden, coef.shape[1])
    cdef cnp.ndarray out = np.empty((n_rows, net.units[L]), dtype=dtype)
    if n_rows == 0:
        return out
    if net.units[0] == 0:
        raise ValueError("X has no columns")
    block_rows = max(1, min(block_rows, n_rows))
    n_threads = max(1, min(n_threads, (n_rows + block_rows - 1) // block_rows))
    cdef cnp.ndarray work = np.empty(2 * n_threads * block_rows * max_hidden, dtype=dtype)
    cdef void* x_ptr = cnp.PyArray_DATA(X)
    cdef void* out_ptr = cnp.PyArray_DATA(out)
    cdef void* work_ptr = cnp.PyArray_DATA(work)
    cdef cnp.ndarray flags = None
    cdef unsigned char* flags_ptr = NULL
    if check_finite:
        flags = np.zeros((n_rows + block_rows - 1) // block_rows, dtype=np.uint8)
        flags_ptr = <unsigned char*> cnp.PyArray_DATA(flags)
    if dtype == np.float32:
        with nogil:
            _forward_blocks[float](
                <const float*> x_ptr, n_rows, &net, <const float**> coef_ptrs,
                <const float**> intercept_ptrs, <float*> out_ptr, <float*> work_ptr,
                block_rows, max_hidden, n_threads, flags_ptr)
    else:
        with nogil:
            _forward_blocks[double](
                <const double*> x_ptr, n_rows, &net, <const double**> coef_ptrs,
                <const double**> intercept_ptrs, <double*> out_ptr, <double*> work_ptr,
                block_rows, max_hidden, n_threads, flags_ptr)
    if check_finite and flags.any():
        return None
    return out


# ------------------------------------------------------- full-batch (lbfgs)
cdef enum:
    # Slots of the full-batch gradient: chunk c is added into slot c % N_SLOTS,
    # each slot's chunks in order, then the slots in order. A fixed number,
    # never the thread count, so the sum is the same at any thread count.
    N_SLOTS = 8


def full_batch_slots():
    """Number of gradient slots (and chunk workspaces) of ``loss_gradient``."""
    return N_SLOTS


cdef void _process_chunk(
        const floating* X, Py_ssize_t n_features, const int* labels,
        const floating* targets, const floating* sample_weight, const Py_ssize_t* rows,
        Py_ssize_t n_rows, const floating* params, floating* grads,
        floating* x_buf, floating* out_buf, floating* delta_buf, int* label_buf,
        floating* target_buf, floating* weight_buf, double* scratch,
        double grad_scale, double* sample_loss, unsigned char* sample_correct,
        const Net* net) noexcept nogil:
    """Loss and whole gradient (no L2) of one chunk of rows, into ``grads``."""
    cdef Py_ssize_t l
    _rows_forward_backward(X, n_features, labels, targets, sample_weight, rows, 0,
                           n_rows, params, x_buf, out_buf, delta_buf, label_buf,
                           target_buf, weight_buf, grad_scale, sample_loss,
                           sample_correct, net)
    for l in range(net.n_layers):
        dense_weight_gradient_ptr(_layer_input(x_buf, out_buf, l, net), <int> net.units[l],
                                  _layer_delta(out_buf, delta_buf, l, net),
                                  grads + net.coef_offset[l], <int> n_rows,
                                  <int> net.units[l], <int> net.units[l + 1])
        sum_rows_ptr(_layer_delta(out_buf, delta_buf, l, net),
                     grads + net.intercept_offset[l], n_rows, net.units[l + 1], 1, scratch)


cdef void _slot_pass(
        Py_ssize_t slot, Py_ssize_t n_chunks, const floating* X, Py_ssize_t n_features,
        const int* labels, const floating* targets, const floating* sample_weight,
        const Py_ssize_t* rows, Py_ssize_t n_samples, const floating* params,
        floating* slot_grads, floating* x_chunks, floating* out_chunks,
        floating* delta_chunks, int* label_chunks, floating* target_chunks,
        floating* weight_chunks, double* scratch_chunks, double grad_scale,
        double* sample_loss, unsigned char* sample_correct, const Net* net,
        const Buffers* buf) noexcept nogil:
    cdef Py_ssize_t c = slot, i, start, n_rows, n = net.n_params
    cdef floating* acc = slot_grads + slot * n
    cdef floating* tmp = slot_grads + (N_SLOTS + slot) * n
    cdef bint first = True
    while c < n_chunks:
        start = c * buf.rows
        n_rows = min(buf.rows, n_samples - start)
        _process_chunk(
            X, n_features, labels, targets, sample_weight, rows + start, n_rows,
            params, acc if first else tmp, x_chunks + slot * buf.x_stride,
            out_chunks + slot * buf.out_stride, delta_chunks + slot * buf.delta_stride,
            label_chunks + slot * buf.rows, target_chunks + slot * buf.target_stride,
            weight_chunks + slot * buf.rows, scratch_chunks + slot * buf.scratch_stride,
            grad_scale, sample_loss + start, sample_correct + start, net)
        if not first:
            for i in range(n):
                acc[i] = acc[i] + tmp[i]
        first = False
        c += N_SLOTS
    if first:  # no chunk for this slot
        for i in range(n):
            acc[i] = 0


def loss_gradient(
        const floating[:, ::1] X, const int[::1] labels, const floating[:, ::1] targets,
        const floating[::1] sample_weight, const Py_ssize_t[::1] rows,
        floating[::1] params, floating[::1] grads, floating[:, ::1] slot_grads,
        floating[:, ::1] x_chunks, floating[:, ::1] out_chunks,
        floating[:, ::1] delta_chunks, int[:, ::1] label_chunks,
        floating[:, ::1] target_chunks, floating[:, ::1] weight_chunks,
        double[:, ::1] scratch_chunks, double[::1] sample_loss,
        unsigned char[::1] sample_correct, const Py_ssize_t[::1] layer_units,
        int activation, bint softmax_output, double alpha, Py_ssize_t chunk_rows,
        int n_threads):
    """Full-batch loss and gradient (lbfgs), in one compiled call.

    The rows are cut into chunks of ``chunk_rows``; threads take the
    ``full_batch_slots()`` slots, each adding its chunks' gradients in order;
    the slots are then added in order. ``rows`` must be ``arange(len(X))``.
    The objective is scikit-learn's: weighted mean log-loss plus
    ``0.5 * alpha * ||W||^2 / sum(weights)``; ``grads`` receives its gradient.

    Returns
    -------
    loss : float
    """
    cdef Net net
    cdef Buffers buf
    cdef Py_ssize_t n_samples = X.shape[0], i, s, n_chunks
    cdef double weight_sum, grad_scale, l2 = 0, loss
    cdef double g
    _setup(&net, &buf, layer_units, activation, softmax_output, chunk_rows, N_SLOTS,
           X, labels, targets, sample_weight, params, x_chunks, out_chunks,
           delta_chunks, label_chunks, target_chunks, weight_chunks, scratch_chunks,
           sample_loss, sample_correct)
    if (slot_grads.shape[0] < 2 * N_SLOTS or slot_grads.shape[1] != net.n_params
            or grads.shape[0] != net.n_params):
        raise ValueError("gradient buffers do not match the layer sizes")
    if rows.shape[0] != n_samples or (n_samples and (rows[0] != 0
                                                     or rows[n_samples - 1] != n_samples - 1)):
        raise ValueError("rows must be arange(len(X))")
    if n_samples == 0:
        raise ValueError("X has no rows")
    weight_sum = n_samples if sample_weight is None else float(np.sum(sample_weight,
                                                                       dtype=np.float64))
    if not weight_sum > 0:
        raise ValueError("sample weights must have a positive sum")
    grad_scale = 1.0 / weight_sum
    n_chunks = (n_samples + chunk_rows - 1) // chunk_rows
    with nogil:
        for s in prange(N_SLOTS, schedule="static", num_threads=max(n_threads, 1),
                        use_threads_if=n_threads > 1 and n_chunks > 1):
            _slot_pass(s, n_chunks, &X[0, 0], X.shape[1],
                       &labels[0] if softmax_output else NULL,
                       NULL if softmax_output else &targets[0, 0],
                       NULL if sample_weight is None else &sample_weight[0], &rows[0],
                       n_samples, &params[0], &slot_grads[0, 0], &x_chunks[0, 0],
                       &out_chunks[0, 0], &delta_chunks[0, 0], &label_chunks[0, 0],
                       &target_chunks[0, 0], &weight_chunks[0, 0], &scratch_chunks[0, 0],
                       grad_scale, &sample_loss[0], &sample_correct[0], &net, &buf)
        for i in range(net.n_params):
            g = slot_grads[0, i]
            for s in range(1, N_SLOTS):
                g = g + slot_grads[s, i]
            if i < net.n_coef_params:
                l2 += <double> params[i] * params[i]
                g = g + alpha * grad_scale * params[i]
            grads[i] = <floating> g
        loss = (_ordered_sum(&sample_loss[0], n_samples) + 0.5 * alpha * l2) / weight_sum
    return loss
