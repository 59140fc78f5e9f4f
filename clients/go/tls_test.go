package backchannel_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"net"
	"os"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	backchannel "github.com/backchannel/backchannel/clients/go"
	pb "github.com/backchannel/backchannel/clients/go/gen/backchannel/v1"
)

// A Backchannel that requires TLS and a client certificate signed by its CA
// (start.py --tls mtls, certificates made by it with Python's cryptography), started by
// the first test that needs it and stopped by TestMain.
var (
	mtlsOnce   sync.Once
	mtlsShared *testServer
	mtlsErr    error
)

func mtlsServer(t *testing.T) *testServer {
	t.Helper()
	mtlsOnce.Do(func() { mtlsShared, mtlsErr = startTestServerWithTLS(0, "mtls") })
	if mtlsErr != nil {
		t.Fatalf("cannot start the mTLS test server: %v", mtlsErr)
	}
	return mtlsShared
}

func stopMTLSServer() {
	if mtlsShared != nil {
		mtlsShared.Stop()
	}
}

func clientFiles(s *testServer) backchannel.TLSFiles {
	return backchannel.TLSFiles{
		CAFile:   s.Values["BACKCHANNEL_CA_FILE"],
		CertFile: s.Values["BACKCHANNEL_CERT_FILE"],
		KeyFile:  s.Values["BACKCHANNEL_KEY_FILE"],
	}
}

func TestTLSWithAClientCertificateIsServedWithDefaultOptions(t *testing.T) {
	s := mtlsServer(t)
	client, err := backchannel.New(s.Address, backchannel.WithTLSFiles(clientFiles(s)))
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	answer, err := client.SendFeedback(ctx, exampleFeedback("LC-GO-TLS-"+suffix()), nil, nil)
	if err != nil {
		t.Fatalf("SendFeedback over mTLS: %v", err)
	}
	stored, err := client.Feedback.GetFeedback(ctx, &pb.GetFeedbackRequest{FeedbackId: answer.GetFeedback().GetId()})
	if err != nil {
		t.Fatalf("GetFeedback over mTLS: %v", err)
	}
	if stored.GetFeedback().GetRequestId() != answer.GetFeedback().GetRequestId() {
		t.Fatalf("read back %v, sent %v", stored.GetFeedback(), answer.GetFeedback())
	}
}

func refusedCode(t *testing.T, s *testServer, files backchannel.TLSFiles) codes.Code {
	t.Helper()
	once := backchannel.DefaultRetryPolicy
	once.MaxAttempts = 1
	client, err := backchannel.New(s.Address, backchannel.WithTLSFiles(files), backchannel.WithRetryPolicy(once))
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_, err = client.SendFeedback(ctx, exampleFeedback("LC-GO-REFUSED"), nil, nil)
	if err == nil {
		t.Fatal("the call was served")
	}
	return status.Code(err)
}

func TestTLSWithoutAClientCertificateIsRefused(t *testing.T) {
	s := mtlsServer(t)
	files := backchannel.TLSFiles{CAFile: s.Values["BACKCHANNEL_CA_FILE"]}

	if code := refusedCode(t, s, files); code != codes.Unavailable {
		t.Fatalf("code %v, want Unavailable", code)
	}
}

func TestTLSWithAForgedClientCertificateIsRefused(t *testing.T) {
	s := mtlsServer(t)
	files := backchannel.TLSFiles{
		CAFile:   s.Values["BACKCHANNEL_CA_FILE"],
		CertFile: s.Values["BACKCHANNEL_FORGED_CERT_FILE"],
		KeyFile:  s.Values["BACKCHANNEL_FORGED_KEY_FILE"],
	}

	if code := refusedCode(t, s, files); code != codes.Unavailable {
		t.Fatalf("code %v, want Unavailable", code)
	}
}

func TestHalfAClientCertificateIsAnError(t *testing.T) {
	s := mtlsServer(t)
	_, err := backchannel.New(s.Address, backchannel.WithTLSFiles(backchannel.TLSFiles{CertFile: s.Values["BACKCHANNEL_CERT_FILE"]}))

	if err == nil {
		t.Fatal("New accepted a certificate without its key")
	}
}

// recordingFeedback answers GetFeedback and keeps each call's authorization header.
type recordingFeedback struct {
	pb.UnimplementedFeedbackServiceServer
	mu   sync.Mutex
	seen []string
}

func (r *recordingFeedback) GetFeedback(ctx context.Context, _ *pb.GetFeedbackRequest) (*pb.GetFeedbackResponse, error) {
	md, _ := metadata.FromIncomingContext(ctx)
	r.mu.Lock()
	r.seen = append(r.seen, md.Get("authorization")...)
	r.mu.Unlock()
	return &pb.GetFeedbackResponse{}, nil
}

func TestTheTokenTravelsWithTheClientCertificate(t *testing.T) {
	s := mtlsServer(t)
	// A stand-in with the same certificates that requires client certificates too.
	pair, err := tls.LoadX509KeyPair(s.Values["BACKCHANNEL_SERVER_CERT_FILE"], s.Values["BACKCHANNEL_SERVER_KEY_FILE"])
	if err != nil {
		t.Fatal(err)
	}
	ca, err := os.ReadFile(s.Values["BACKCHANNEL_CA_FILE"])
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(ca)
	standIn := grpc.NewServer(grpc.Creds(credentials.NewTLS(&tls.Config{
		Certificates: []tls.Certificate{pair},
		ClientAuth:   tls.RequireAndVerifyClientCert,
		ClientCAs:    pool,
		MinVersion:   tls.VersionTLS12,
	})))
	recorder := &recordingFeedback{}
	pb.RegisterFeedbackServiceServer(standIn, recorder)
	listener, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = standIn.Serve(listener) }()
	defer standIn.Stop()

	tokens := []string{"first", "second"}
	next := 0
	client, err := backchannel.New(listener.Addr().String(), backchannel.WithTLSFiles(clientFiles(s)),
		backchannel.WithTokenSource(func(context.Context) (string, error) {
			token := tokens[next%len(tokens)]
			next++
			return token, nil
		}))
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for _, id := range []string{"fb_1", "fb_2"} {
		if _, err := client.Feedback.GetFeedback(ctx, &pb.GetFeedbackRequest{FeedbackId: id}); err != nil {
			t.Fatalf("GetFeedback on the stand-in: %v", err)
		}
	}

	recorder.mu.Lock()
	defer recorder.mu.Unlock()
	if len(recorder.seen) != 2 || recorder.seen[0] != "Bearer first" || recorder.seen[1] != "Bearer second" {
		t.Fatalf("authorization headers %q, want [Bearer first, Bearer second]", recorder.seen)
	}
}
