package backchannel

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"

	"google.golang.org/grpc/credentials"
)

// TLSFiles names the PEM files of a TLS connection to Backchannel (the same files the CLI
// reads from BACKCHANNEL_CA_FILE, BACKCHANNEL_CERT_FILE and BACKCHANNEL_KEY_FILE).
type TLSFiles struct {
	// CAFile holds the CAs to trust; empty: the system's roots.
	CAFile string
	// CertFile and KeyFile are the client certificate chain and its private key, presented
	// to a server that requires client certificates (mTLS). Both or neither.
	CertFile string
	KeyFile  string
}

// Config reads the files into a TLS configuration (TLS 1.2 or later).
func (f TLSFiles) Config() (*tls.Config, error) {
	config := &tls.Config{MinVersion: tls.VersionTLS12}
	if f.CAFile != "" {
		pem, err := os.ReadFile(f.CAFile)
		if err != nil {
			return nil, fmt.Errorf("backchannel: reading the CA file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("backchannel: the CA file %s holds no PEM certificate", f.CAFile)
		}
		config.RootCAs = pool
	}
	if (f.CertFile == "") != (f.KeyFile == "") {
		return nil, errors.New("backchannel: a client certificate needs both CertFile and KeyFile")
	}
	if f.CertFile != "" {
		pair, err := tls.LoadX509KeyPair(f.CertFile, f.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("backchannel: reading the client certificate: %w", err)
		}
		config.Certificates = []tls.Certificate{pair}
	}
	return config, nil
}

// WithTLSFiles connects with TLS, trusting files.CAFile and presenting the client
// certificate of files.CertFile and files.KeyFile; New reads them and fails when it
// cannot. It replaces WithTransportCredentials (giving both is an error).
func WithTLSFiles(files TLSFiles) Option {
	return func(o *options) { o.tlsFiles = &files }
}

// WithToken sends "authorization: Bearer <token>" with every call.
func WithToken(token string) Option {
	return WithTokenSource(func(context.Context) (string, error) { return token, nil })
}

// WithTokenSource sends "authorization: Bearer <token>" with every call, the token asked
// of source before each one (a token that rotates).
func WithTokenSource(source func(ctx context.Context) (string, error)) Option {
	return func(o *options) { o.token = source }
}

// bearerToken is the per-call credential WithToken adds.
type bearerToken struct {
	source func(ctx context.Context) (string, error)
}

func (b bearerToken) GetRequestMetadata(ctx context.Context, _ ...string) (map[string]string, error) {
	token, err := b.source(ctx)
	if err != nil {
		return nil, err
	}
	return map[string]string{"authorization": "Bearer " + token}, nil
}

// RequireTransportSecurity is false so a token also reaches a loopback server without
// TLS, as the other Backchannel clients send it.
func (bearerToken) RequireTransportSecurity() bool { return false }

// transportCredentials resolves the TLS options of New.
func (o *options) transportCredentials() (credentials.TransportCredentials, error) {
	if o.tlsFiles == nil {
		return o.creds, nil
	}
	if o.credsSet {
		return nil, errors.New("backchannel: give WithTLSFiles or WithTransportCredentials, not both")
	}
	config, err := o.tlsFiles.Config()
	if err != nil {
		return nil, err
	}
	return credentials.NewTLS(config), nil
}
