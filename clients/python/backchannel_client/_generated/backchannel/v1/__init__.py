"""Generated from protos/backchannel/v1 by clients/python/generate; do not edit."""
