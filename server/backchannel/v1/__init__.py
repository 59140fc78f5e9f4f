"""Generated from protos/backchannel/v1 by protos/generate; do not edit."""
