from libc.stdint cimport int64_t

cdef int MAX_PRECISION

cdef int parse_fixed_c(str text, int precision, int64_t* out) noexcept
cdef str format_fixed_c(int64_t raw, int precision)
