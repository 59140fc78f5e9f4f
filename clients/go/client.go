// Package backchannel is a thin client over Backchannel's generated gRPC stubs (in gen/):
// SendFeedback with a request id and safe retries, FollowEvents that reconnects and
// resumes after its last cursor, and helpers that read the error details the server sends.
package backchannel

import (
	"context"
	"errors"
	"io"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/google/uuid"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	pb "github.com/backchannel/backchannel/clients/go/gen/backchannel/v1"
)

// RetryPolicy says how a call is tried again after UNAVAILABLE or DEADLINE_EXCEEDED.
type RetryPolicy struct {
	// MaxAttempts is the most attempts in all, the first included (0: unlimited, for
	// FollowEvents only; SendFeedback treats 0 as 1).
	MaxAttempts int
	// InitialBackoff is the delay before the second attempt; each next one is
	// Multiplier times longer, up to MaxBackoff. Each delay is jittered (50% to 100%).
	InitialBackoff time.Duration
	MaxBackoff     time.Duration
	Multiplier     float64
	// AttemptTimeout bounds one attempt of a unary call (0: only the caller's context).
	AttemptTimeout time.Duration
}

// DefaultRetryPolicy is used when no other is given.
var DefaultRetryPolicy = RetryPolicy{
	MaxAttempts:    5,
	InitialBackoff: 200 * time.Millisecond,
	MaxBackoff:     5 * time.Second,
	Multiplier:     2,
	AttemptTimeout: 10 * time.Second,
}

func (p RetryPolicy) backoff(retry int) time.Duration {
	d := float64(p.InitialBackoff)
	for i := 0; i < retry; i++ {
		d *= p.Multiplier
		if d >= float64(p.MaxBackoff) {
			d = float64(p.MaxBackoff)
			break
		}
	}
	if p.MaxBackoff > 0 && d > float64(p.MaxBackoff) {
		d = float64(p.MaxBackoff)
	}
	return time.Duration(d/2 + rand.Float64()*d/2)
}

// sleep waits d or until ctx is done.
func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// Client holds a connection and the generated stubs, for calls the wrapper does not cover.
type Client struct {
	conn       *grpc.ClientConn
	Feedback   pb.FeedbackServiceClient
	Recipients pb.RecipientServiceClient
	Deliveries pb.DeliveryServiceClient
	retry      RetryPolicy
}

type options struct {
	creds    credentials.TransportCredentials
	credsSet bool
	tlsFiles *TLSFiles
	token    func(ctx context.Context) (string, error)
	dial     []grpc.DialOption
	retry    RetryPolicy
}

// Option configures New.
type Option func(*options)

// WithTransportCredentials sets TLS credentials (default: plaintext, for loopback);
// WithTLSFiles builds them from PEM files.
func WithTransportCredentials(c credentials.TransportCredentials) Option {
	return func(o *options) { o.creds, o.credsSet = c, true }
}

// WithDialOptions adds gRPC dial options (interceptors, per-RPC credentials...).
func WithDialOptions(d ...grpc.DialOption) Option {
	return func(o *options) { o.dial = append(o.dial, d...) }
}

// WithRetryPolicy replaces DefaultRetryPolicy for this client.
func WithRetryPolicy(p RetryPolicy) Option { return func(o *options) { o.retry = p } }

// New makes a client for target (e.g. "127.0.0.1:50051"). It does not connect until the
// first call.
func New(target string, opts ...Option) (*Client, error) {
	o := options{creds: insecure.NewCredentials(), retry: DefaultRetryPolicy}
	for _, opt := range opts {
		opt(&o)
	}
	creds, err := o.transportCredentials()
	if err != nil {
		return nil, err
	}
	dial := []grpc.DialOption{grpc.WithTransportCredentials(creds)}
	if o.token != nil {
		dial = append(dial, grpc.WithPerRPCCredentials(bearerToken{o.token}))
	}
	conn, err := grpc.NewClient(target, append(dial, o.dial...)...)
	if err != nil {
		return nil, err
	}
	return &Client{
		conn:       conn,
		Feedback:   pb.NewFeedbackServiceClient(conn),
		Recipients: pb.NewRecipientServiceClient(conn),
		Deliveries: pb.NewDeliveryServiceClient(conn),
		retry:      o.retry,
	}, nil
}

// Close closes the connection.
func (c *Client) Close() error { return c.conn.Close() }

// SendOptions are the optional parts of SendFeedback.
type SendOptions struct {
	// RequestID is the idempotency key; a new UUID when empty.
	RequestID string
	// Retry replaces the client's retry policy for this call.
	Retry *RetryPolicy
}

// retryable says whether a unary call may be repeated with the same request id.
func retryable(err error) bool {
	switch status.Code(err) {
	case codes.Unavailable, codes.DeadlineExceeded:
		return true
	}
	return false
}

// SendFeedback stores feedback for delivery to recipientIDs (empty: every recipient whose
// subscription matches). It is retried on UNAVAILABLE and DEADLINE_EXCEEDED with backoff
// and jitter, always with the same request id, so a retry never stores it twice.
func (c *Client) SendFeedback(ctx context.Context, feedback *pb.Feedback, recipientIDs []string, opts *SendOptions) (*pb.SendFeedbackResponse, error) {
	policy := c.retry
	requestID := ""
	if opts != nil {
		requestID = opts.RequestID
		if opts.Retry != nil {
			policy = *opts.Retry
		}
	}
	if requestID == "" {
		requestID = uuid.NewString()
	}
	request := &pb.SendFeedbackRequest{RequestId: requestID, Feedback: feedback, RecipientIds: recipientIDs}
	attempts := max(policy.MaxAttempts, 1)
	for attempt := 1; ; attempt++ {
		response, err := c.sendOnce(ctx, request, policy.AttemptTimeout)
		if err == nil || !retryable(err) || attempt >= attempts || ctx.Err() != nil {
			return response, err
		}
		if sleep(ctx, policy.backoff(attempt-1)) != nil {
			return nil, err
		}
	}
}

func (c *Client) sendOnce(ctx context.Context, request *pb.SendFeedbackRequest, timeout time.Duration) (*pb.SendFeedbackResponse, error) {
	if timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, timeout)
		defer cancel()
	}
	return c.Feedback.SendFeedback(ctx, request)
}

// FollowOptions are the optional parts of FollowEvents.
type FollowOptions struct {
	// FromBeginning replays every retained event when there is no cursor to start after.
	FromBeginning bool
	// IncludeHeartbeats also delivers heartbeats (they advance the cursor either way).
	IncludeHeartbeats bool
	// Reconnect paces reconnections; MaxAttempts counts failures in a row (0: unlimited).
	Reconnect *RetryPolicy
}

// Follower is a live event stream that reconnects and resumes after its last cursor.
type Follower struct {
	items  chan *pb.StreamFeedbackEventsResponse
	mu     sync.Mutex
	cursor string
	err    error
}

// Events delivers events (and operator events when the filter asks for them) in order;
// it is closed when the context ends or the stream fails for good (see Err).
func (f *Follower) Events() <-chan *pb.StreamFeedbackEventsResponse { return f.items }

// Cursor is the cursor of the last item handed over through Events (or heartbeat read):
// resume after it. It moves just after the handover, from the follower's goroutine, so it
// may still be the previous item's for an instant after a receive; to checkpoint an item
// you have processed, store that item's own cursor (e.g. event.Cursor).
func (f *Follower) Cursor() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.cursor
}

// Err says why Events was closed: the context's error, or a status the server gave that
// reconnecting cannot fix (OUT_OF_RANGE for a cursor past retention, INVALID_ARGUMENT...).
func (f *Follower) Err() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.err
}

func (f *Follower) setCursor(c string) {
	if c == "" {
		return
	}
	f.mu.Lock()
	f.cursor = c
	f.mu.Unlock()
}

// resumable says whether a stream that ended with err should be opened again.
func resumable(err error) bool {
	if errors.Is(err, io.EOF) {
		return true // the server ended the stream (e.g. shutting down)
	}
	switch status.Code(err) {
	case codes.Unavailable, codes.ResourceExhausted, codes.DeadlineExceeded, codes.Aborted, codes.Internal, codes.Unknown:
		return true
	}
	return false
}

func itemCursor(item *pb.StreamFeedbackEventsResponse) string {
	switch x := item.Item.(type) {
	case *pb.StreamFeedbackEventsResponse_Event:
		return x.Event.GetCursor()
	case *pb.StreamFeedbackEventsResponse_Heartbeat:
		return x.Heartbeat.GetCursor()
	case *pb.StreamFeedbackEventsResponse_OperatorEvent:
		return x.OperatorEvent.GetCursor()
	}
	return ""
}

// FollowEvents streams feedback-sent events matching filter, after afterCursor (empty:
// from now, or from the beginning with opts.FromBeginning). When the stream breaks it
// reconnects with backoff and resumes after the last cursor it saw, so nothing is missed
// or repeated. Cancel ctx to stop.
func (c *Client) FollowEvents(ctx context.Context, filter *pb.EventFilter, afterCursor string, opts *FollowOptions) *Follower {
	if opts == nil {
		opts = &FollowOptions{}
	}
	policy := RetryPolicy{InitialBackoff: 200 * time.Millisecond, MaxBackoff: 5 * time.Second, Multiplier: 2}
	if opts.Reconnect != nil {
		policy = *opts.Reconnect
	}
	f := &Follower{items: make(chan *pb.StreamFeedbackEventsResponse), cursor: afterCursor}
	go func() {
		defer close(f.items)
		failures := 0
		for {
			request := &pb.StreamFeedbackEventsRequest{Filter: filter}
			if cursor := f.Cursor(); cursor != "" {
				request.Start = &pb.StreamFeedbackEventsRequest_AfterCursor{AfterCursor: cursor}
			} else if opts.FromBeginning {
				request.Start = &pb.StreamFeedbackEventsRequest_FromBeginning{FromBeginning: true}
			}
			err := c.followOnce(ctx, f, request, opts.IncludeHeartbeats, &failures)
			if ctx.Err() != nil {
				f.mu.Lock()
				f.err = ctx.Err()
				f.mu.Unlock()
				return
			}
			failures++
			if !resumable(err) || (policy.MaxAttempts > 0 && failures >= policy.MaxAttempts) {
				f.mu.Lock()
				f.err = err
				f.mu.Unlock()
				return
			}
			if sleep(ctx, policy.backoff(failures-1)) != nil {
				f.mu.Lock()
				f.err = ctx.Err()
				f.mu.Unlock()
				return
			}
		}
	}()
	return f
}

func (c *Client) followOnce(ctx context.Context, f *Follower, request *pb.StreamFeedbackEventsRequest, heartbeats bool, failures *int) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stream, err := c.Feedback.StreamFeedbackEvents(ctx, request)
	if err != nil {
		return err
	}
	for {
		item, err := stream.Recv()
		if err != nil {
			return err
		}
		*failures = 0
		_, isHeartbeat := item.Item.(*pb.StreamFeedbackEventsResponse_Heartbeat)
		if !isHeartbeat || heartbeats {
			select {
			case f.items <- item:
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		// The cursor moves once the item is handed over: a reconnect resumes after it.
		f.setCursor(itemCursor(item))
	}
}
