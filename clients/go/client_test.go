package backchannel_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	backchannel "github.com/backchannel/backchannel/clients/go"
	pb "github.com/backchannel/backchannel/clients/go/gen/backchannel/v1"
)

var shared *testServer

func TestMain(m *testing.M) {
	var err error
	shared, err = startTestServer(0)
	if err != nil {
		fmt.Fprintln(os.Stderr, "cannot start the test server:", err)
		os.Exit(1)
	}
	code := m.Run()
	shared.Stop()
	stopMTLSServer()
	os.Exit(code)
}

func suffix() string {
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// exampleFeedback is the brief's example: a conversion worth USD 1250.00.
func exampleFeedback(leadID string) *pb.Feedback {
	at := func(s string) *timestamppb.Timestamp {
		t, _ := time.Parse(time.RFC3339, s)
		return timestamppb.New(t)
	}
	overall := 85.0
	return &pb.Feedback{
		Kind:         pb.FeedbackKind_FEEDBACK_KIND_CONVERSION,
		Lead:         &pb.LeadReference{LeadId: leadID, SourceId: "SOURCE_ABC"},
		FeedbackTime: at("2024-01-15T10:30:00Z"),
		Outcome: &pb.Outcome{
			Status:    "converted",
			OccurTime: at("2024-01-14T15:45:00Z"),
			Value:     &pb.Money{CurrencyCode: "USD", Amount: "1250.00"},
			Product:   "home_insurance",
		},
		Quality: &pb.QualityScores{OverallScore: &overall, Dimensions: map[string]float64{
			"data_quality": 90, "conversion_likelihood": 80, "customer_satisfaction": 88,
		}},
		Attribution: &pb.Attribution{Campaign: "winter_2024", Creative: "banner_v2", Keyword: "home insurance quotes"},
	}
}

// receiver is a webhook endpoint on 127.0.0.1 that answers 204 and keeps each webhook-id.
type receiver struct {
	*httptest.Server
	mu  sync.Mutex
	ids []string
}

func newReceiver(t *testing.T) *receiver {
	r := &receiver{}
	r.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		r.mu.Lock()
		r.ids = append(r.ids, req.Header.Get("webhook-id"))
		r.mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(r.Close)
	return r
}

func (r *receiver) webhookIDs() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.ids...)
}

func newClient(t *testing.T, address string, opts ...backchannel.Option) *backchannel.Client {
	client, err := backchannel.New(address, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { client.Close() })
	return client
}

func createWebhookRecipient(t *testing.T, ctx context.Context, client *backchannel.Client, url string) string {
	id := "go-acme-" + suffix()
	settings, _ := structpb.NewStruct(map[string]any{"url": url})
	_, err := client.Recipients.CreateRecipient(ctx, &pb.CreateRecipientRequest{Recipient: &pb.Recipient{
		Id: id, RecipientType: pb.RecipientType_RECIPIENT_TYPE_SOURCE, Transport: "webhook",
		Format: "json", TransportSettings: settings,
	}})
	if err != nil {
		t.Fatalf("CreateRecipient: %v", err)
	}
	return id
}

// nextEvent waits (bounded) for the next feedback-sent event of the follower.
func nextEvent(t *testing.T, f *backchannel.Follower, within time.Duration) *pb.FeedbackSentEvent {
	t.Helper()
	timeout := time.After(within)
	for {
		select {
		case item, ok := <-f.Events():
			if !ok {
				t.Fatalf("event stream ended: %v", f.Err())
			}
			if event := item.GetEvent(); event != nil {
				return event
			}
		case <-timeout:
			t.Fatalf("no event within %s", within)
		}
	}
}

// cursorReaches waits (bounded) for the follower's cursor to become want; it returns the last seen.
func cursorReaches(f *backchannel.Follower, want string, within time.Duration) string {
	deadline := time.Now().Add(within)
	for {
		got := f.Cursor()
		if got == want || time.Now().After(deadline) {
			return got
		}
		time.Sleep(time.Millisecond)
	}
}

func TestSendExampleFeedbackAndFollowItsEvent(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	client := newClient(t, shared.Address)
	hook := newReceiver(t)
	recipient := createWebhookRecipient(t, ctx, client, hook.URL+"/feedback")

	follower := client.FollowEvents(ctx, &pb.EventFilter{RecipientIds: []string{recipient}}, "", &backchannel.FollowOptions{FromBeginning: true})
	sent, err := client.SendFeedback(ctx, exampleFeedback("LC123456789"), []string{recipient}, nil)
	if err != nil {
		t.Fatalf("SendFeedback: %v", err)
	}
	if sent.Feedback.GetId() == "" || sent.Feedback.GetRequestId() == "" {
		t.Fatalf("no id or generated request id: %v", sent.Feedback)
	}
	if got := sent.Feedback.GetOutcome().GetValue().GetAmount(); got != "1250.00" {
		t.Fatalf("amount %q", got)
	}
	if len(sent.Deliveries) != 1 {
		t.Fatalf("deliveries: %v", sent.Deliveries)
	}

	event := nextEvent(t, follower, 30*time.Second)
	if event.FeedbackId != sent.Feedback.Id || event.DeliveryId != sent.Deliveries[0].Id {
		t.Fatalf("event for another feedback: %v", event)
	}
	if event.ProcessingStatus != pb.ProcessingStatus_PROCESSING_STATUS_SUCCEEDED || event.ResponseStatus.GetCode() != 204 {
		t.Fatalf("event did not succeed: %v", event)
	}
	if event.Cursor == "" {
		t.Fatalf("event without a cursor: %v", event)
	}
	// The follower's cursor moves just after the handover, in its own goroutine.
	if got := cursorReaches(follower, event.Cursor, 10*time.Second); got != event.Cursor {
		t.Fatalf("cursor %q, follower at %q", event.Cursor, got)
	}
	if ids := hook.webhookIDs(); len(ids) != 1 || ids[0] != event.DeliveryId {
		t.Fatalf("receiver saw %v, want [%s]", ids, event.DeliveryId)
	}
}

func TestFollowEventsReconnectsAndResumesAfterItsCursor(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	direct := newClient(t, shared.Address)
	link, err := newProxy(shared.Address)
	if err != nil {
		t.Fatal(err)
	}
	defer link.Close()
	viaProxy := newClient(t, link.Address(), backchannel.WithDialOptions(grpc.WithConnectParams(grpc.ConnectParams{
		Backoff: backoff.Config{BaseDelay: 100 * time.Millisecond, Multiplier: 1.6, MaxDelay: time.Second}, MinConnectTimeout: 5 * time.Second,
	})))
	hook := newReceiver(t)
	recipient := createWebhookRecipient(t, ctx, direct, hook.URL)
	filter := &pb.EventFilter{RecipientIds: []string{recipient}}

	follower := viaProxy.FollowEvents(ctx, filter, "", &backchannel.FollowOptions{FromBeginning: true})
	first, err := direct.SendFeedback(ctx, exampleFeedback("LC-"+suffix()), []string{recipient}, nil)
	if err != nil {
		t.Fatal(err)
	}
	firstEvent := nextEvent(t, follower, 30*time.Second)
	if firstEvent.FeedbackId != first.Feedback.Id {
		t.Fatalf("first event: %v", firstEvent)
	}
	afterFirst := firstEvent.Cursor

	link.DropAll() // the stream breaks; the follower reconnects after its cursor
	second, err := direct.SendFeedback(ctx, exampleFeedback("LC-"+suffix()), []string{recipient}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if event := nextEvent(t, follower, 30*time.Second); event.FeedbackId != second.Feedback.Id {
		t.Fatalf("after reconnecting got %v, want the second feedback's event (no repeat)", event)
	}
	if link.Accepted() < 2 {
		t.Fatalf("the follower did not reconnect (%d connections)", link.Accepted())
	}

	// A new follower started after the first event's cursor sees only the second.
	resumed := direct.FollowEvents(ctx, filter, afterFirst, nil)
	if event := nextEvent(t, resumed, 30*time.Second); event.FeedbackId != second.Feedback.Id {
		t.Fatalf("resumed after the first cursor and got %v", event)
	}
}

func TestSendFeedbackRetriesWithTheSameRequestID(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	port := freePort()
	var mu sync.Mutex
	var attempts []string
	var codesSeen []codes.Code
	record := func(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
		err := invoker(ctx, method, req, reply, cc, opts...)
		if r, ok := req.(*pb.SendFeedbackRequest); ok {
			mu.Lock()
			attempts = append(attempts, r.RequestId)
			codesSeen = append(codesSeen, status.Code(err))
			mu.Unlock()
		}
		return err
	}
	// The client starts before the server listens on its port: the first attempts fail
	// with UNAVAILABLE and are retried.
	client := newClient(t, fmt.Sprintf("127.0.0.1:%d", port),
		backchannel.WithDialOptions(
			grpc.WithUnaryInterceptor(record),
			grpc.WithConnectParams(grpc.ConnectParams{Backoff: backoff.Config{BaseDelay: 100 * time.Millisecond, Multiplier: 1.6, MaxDelay: time.Second}, MinConnectTimeout: 5 * time.Second}),
		))
	started := make(chan *testServer, 1)
	go func() {
		server, err := startTestServer(port)
		if err != nil {
			t.Errorf("second server: %v", err)
		}
		started <- server
	}()
	defer func() {
		if server := <-started; server != nil {
			server.Stop()
		}
	}()

	policy := backchannel.RetryPolicy{MaxAttempts: 1000, InitialBackoff: 50 * time.Millisecond, MaxBackoff: 500 * time.Millisecond, Multiplier: 2, AttemptTimeout: 10 * time.Second}
	sent, err := client.SendFeedback(ctx, exampleFeedback("LC-"+suffix()), nil, &backchannel.SendOptions{Retry: &policy})
	if err != nil {
		t.Fatalf("SendFeedback: %v", err)
	}
	mu.Lock()
	seen := append([]string(nil), attempts...)
	first := codesSeen[0]
	mu.Unlock()
	if len(seen) < 2 || first != codes.Unavailable {
		t.Fatalf("expected UNAVAILABLE then a retry, got %d attempts, first %v", len(seen), first)
	}
	for _, id := range seen {
		if id != seen[0] {
			t.Fatalf("request ids differ between attempts: %v", seen)
		}
	}
	if sent.Feedback.RequestId != seen[0] {
		t.Fatalf("stored request id %q, sent %q", sent.Feedback.RequestId, seen[0])
	}
	// Repeating the request id returns the first answer: one feedback stored.
	again, err := client.SendFeedback(ctx, exampleFeedback(sent.Feedback.Lead.LeadId), nil, &backchannel.SendOptions{RequestID: seen[0]})
	if err != nil {
		t.Fatal(err)
	}
	if again.Feedback.Id != sent.Feedback.Id || !again.Feedback.AcceptTime.AsTime().Equal(sent.Feedback.AcceptTime.AsTime()) {
		t.Fatalf("a repeat stored another feedback: %v vs %v", again.Feedback.Id, sent.Feedback.Id)
	}
}

func TestInvalidArgumentExposesFieldViolations(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	client := newClient(t, shared.Address)
	bad := exampleFeedback("")
	bad.Kind = pb.FeedbackKind_FEEDBACK_KIND_UNSPECIFIED
	bad.Outcome.Value.CurrencyCode = "dollars"
	_, err := client.SendFeedback(ctx, bad, nil, nil)
	if status.Code(err) != codes.InvalidArgument {
		t.Fatalf("want INVALID_ARGUMENT, got %v", err)
	}
	fields := map[string]string{}
	for _, v := range backchannel.FieldViolations(err) {
		fields[v.Field] = v.Description
	}
	for _, want := range []string{"feedback.kind", "feedback.lead.lead_id", "feedback.outcome.value.currency_code"} {
		if _, ok := fields[want]; !ok {
			t.Errorf("no violation for %s in %v", want, fields)
		}
	}
	if info := backchannel.ErrorInfo(err); info == nil || info.Domain != "backchannel.dev" {
		t.Errorf("ErrorInfo: %v", info)
	}
}
