"""The gRPC face of Backchannel: servicers, validation, errors, the interceptors every
RPC passes through, and reflection."""
