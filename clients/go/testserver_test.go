package backchannel_test

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"
)

// testServer is a throwaway Backchannel (its own Postgres cluster) started by the shared
// helper clients/testserver/start.py, which removes both when its stdin is closed.
type testServer struct {
	cmd     *exec.Cmd
	stdin   io.WriteCloser
	Address string
	// Values holds every NAME=VALUE line start.py printed (with TLS: BACKCHANNEL_CA_FILE,
	// BACKCHANNEL_CERT_FILE, BACKCHANNEL_KEY_FILE, BACKCHANNEL_FORGED_CERT_FILE, ...).
	Values map[string]string
	done   chan struct{}
}

func repoRoot() string {
	wd, _ := os.Getwd()
	return filepath.Clean(filepath.Join(wd, "..", ".."))
}

// startTestServer starts start.py (port 0: any free port) and waits, at most two
// minutes, for the address it prints.
func startTestServer(port int) (*testServer, error) { return startTestServerWithTLS(port, "none") }

// startTestServerWithTLS is startTestServer with start.py's --tls mode: "none", "tls" or
// "mtls" (client certificates required); the certificate files are in Values.
func startTestServerWithTLS(port int, tlsMode string) (*testServer, error) {
	root := repoRoot()
	python := os.Getenv("BACKCHANNEL_PYTHON")
	if python == "" {
		python = filepath.Join(root, ".venv", "bin", "python")
	}
	cmd := exec.Command(python, filepath.Join(root, "clients", "testserver", "start.py"),
		"--port", fmt.Sprint(port), "--tls", tlsMode)
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	s := &testServer{cmd: cmd, stdin: stdin, Values: map[string]string{}, done: make(chan struct{})}
	address := make(chan string, 1)
	go func() {
		scanner := bufio.NewScanner(stdout)
		for scanner.Scan() {
			name, value, ok := strings.Cut(scanner.Text(), "=")
			if !ok || !strings.HasPrefix(name, "BACKCHANNEL_") {
				continue
			}
			if name == "BACKCHANNEL_ADDRESS" {
				address <- value // the last line: Values is complete
				continue
			}
			s.Values[name] = value
		}
		close(address)
	}()
	go func() { _ = cmd.Wait(); close(s.done) }()
	select {
	case value, ok := <-address:
		if !ok {
			s.Stop()
			return nil, fmt.Errorf("start.py ended without an address")
		}
		s.Address = value
		return s, nil
	case <-time.After(2 * time.Minute):
		s.Stop()
		return nil, fmt.Errorf("start.py printed no address within 2 minutes")
	}
}

// Stop closes the helper's stdin (it stops the server and removes the cluster) and
// waits up to 30 s before killing it.
func (s *testServer) Stop() {
	_ = s.stdin.Close()
	select {
	case <-s.done:
	case <-time.After(30 * time.Second):
		_ = s.cmd.Process.Kill()
		<-s.done
	}
}

func freePort() int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// proxy forwards loopback TCP connections to a target and can drop them all at once,
// so a test can break a live stream the way a network or a restart would.
type proxy struct {
	listener net.Listener
	target   string
	mu       sync.Mutex
	conns    []net.Conn
	accepted int
}

func newProxy(target string) (*proxy, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	p := &proxy{listener: l, target: target}
	go p.serve()
	return p, nil
}

func (p *proxy) Address() string { return p.listener.Addr().String() }

func (p *proxy) serve() {
	for {
		client, err := p.listener.Accept()
		if err != nil {
			return
		}
		server, err := net.DialTimeout("tcp", p.target, 5*time.Second)
		if err != nil {
			client.Close()
			continue
		}
		p.mu.Lock()
		p.conns = append(p.conns, client, server)
		p.accepted++
		p.mu.Unlock()
		go func() { _, _ = io.Copy(server, client); server.Close() }()
		go func() { _, _ = io.Copy(client, server); client.Close() }()
	}
}

// DropAll closes every connection made so far.
func (p *proxy) DropAll() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range p.conns {
		c.Close()
	}
	p.conns = nil
}

func (p *proxy) Accepted() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.accepted
}

func (p *proxy) Close() {
	p.listener.Close()
	p.DropAll()
}
