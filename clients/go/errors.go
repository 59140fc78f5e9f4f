package backchannel

import (
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/status"
)

// FieldViolations returns the field violations of the BadRequest detail of err (the
// server sends one with INVALID_ARGUMENT), or nil.
func FieldViolations(err error) []*errdetails.BadRequest_FieldViolation {
	s, ok := status.FromError(err)
	if !ok {
		return nil
	}
	for _, detail := range s.Details() {
		if bad, ok := detail.(*errdetails.BadRequest); ok {
			return bad.GetFieldViolations()
		}
	}
	return nil
}

// ErrorInfo returns the ErrorInfo detail of err (reason, domain "backchannel.dev",
// metadata), or nil.
func ErrorInfo(err error) *errdetails.ErrorInfo {
	s, ok := status.FromError(err)
	if !ok {
		return nil
	}
	for _, detail := range s.Details() {
		if info, ok := detail.(*errdetails.ErrorInfo); ok {
			return info
		}
	}
	return nil
}
