"""The gRPC boundary: servicers (thin), interceptors, error mapping and conversion."""
