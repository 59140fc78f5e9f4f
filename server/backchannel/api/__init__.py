"""The gRPC face of Backchannel: servicers, validation, error mapping."""
