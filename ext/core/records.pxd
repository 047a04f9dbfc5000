cdef int descr_set(object descr, object obj, object value) except -1

cdef class SlotDecoder:
    cdef object cls
    cdef tuple setters
    cdef int *kinds
    cdef char *optional
    cdef tuple args
    cdef Py_ssize_t n
    cdef object build(self, list a)
