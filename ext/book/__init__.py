"""Order books: the L2 price-level book (``l2book``) and venue level parsing (``levels``)."""
