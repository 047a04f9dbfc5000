cdef int descr_set(object descr, object obj, object value) except -1
cdef object alloc(object cls)
cdef object descr_get(object descr, object obj)
cdef object str_of(object cls, object value)
cdef int check_class(object cls, str what) except -1

cdef class SlotDecoder:
    cdef object cls
    cdef tuple setters
    cdef int *kinds
    cdef char *optional
    cdef tuple args
    cdef Py_ssize_t n
    cdef object build(self, list a)
