package rdssim

import (
	"bufio"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"sync"
	"time"
)

// sniffTimeout bounds how long a new connection may take to send its first
// byte, which tells TLS from plain HTTP.
const sniffTimeout = 10 * time.Second

// CA is a certificate authority for simulators' serving certificates: an
// ECDSA P-256 key and a self-signed certificate valid for ten years.
type CA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	pem  []byte
}

// NewCA generates a CA.
func NewCA() (*CA, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("generate CA key: %w", err)
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          randomSerial(),
		Subject:               pkix.Name{CommonName: "rdssim local CA", Organization: []string{"rdsgate simulator"}},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.AddDate(10, 0, 0),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, fmt.Errorf("create CA certificate: %w", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("parse CA certificate: %w", err)
	}
	return &CA{cert: cert, key: key, pem: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})}, nil
}

// CertPEM returns the CA certificate in PEM.
func (ca *CA) CertPEM() []byte { return append([]byte(nil), ca.pem...) }

// CertPool returns a pool holding only the CA certificate.
func (ca *CA) CertPool() *x509.CertPool {
	p := x509.NewCertPool()
	p.AddCert(ca.cert)
	return p
}

func randomSerial() *big.Int {
	n, _ := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127)) // never fails with crypto/rand
	return n
}

// tlsMaterial is a server's CA and serving certificate.
type tlsMaterial struct {
	ca   *CA
	leaf tls.Certificate
}

// newTLSMaterial signs a leaf for 127.0.0.1, ::1, localhost and hosts with
// ca, or with a new CA when ca is nil.
func newTLSMaterial(ca *CA, hosts []string) (*tlsMaterial, error) {
	if ca == nil {
		var err error
		if ca, err = NewCA(); err != nil {
			return nil, err
		}
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("generate TLS key: %w", err)
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber: randomSerial(),
		Subject:      pkix.Name{CommonName: "rdssim"},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.AddDate(1, 0, 0),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IPAddresses:  []net.IP{net.ParseIP("127.0.0.1"), net.ParseIP("::1")},
		DNSNames:     []string{"localhost"},
	}
	for _, h := range hosts {
		switch ip := net.ParseIP(h); {
		case h == "":
		case ip != nil:
			if !ip.IsUnspecified() {
				tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
			}
		default:
			tmpl.DNSNames = append(tmpl.DNSNames, h)
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		return nil, fmt.Errorf("create TLS certificate: %w", err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("parse TLS certificate: %w", err)
	}
	return &tlsMaterial{ca: ca, leaf: tls.Certificate{
		Certificate: [][]byte{der, ca.cert.Raw},
		PrivateKey:  key,
		Leaf:        leaf,
	}}, nil
}

// CA returns the CA that signed the serving certificate.
func (s *Server) CA() *CA { return s.tls.ca }

// CACertPEM returns the CA certificate in PEM (what `rdsgate sim --ca-out`
// writes and GET /_sim/ca.pem serves).
func (s *Server) CACertPEM() []byte { return s.tls.ca.CertPEM() }

// CertPool returns a pool holding only the CA certificate.
func (s *Server) CertPool() *x509.CertPool { return s.tls.ca.CertPool() }

// ClientTLSConfig returns a client configuration trusting only the CA.
func (s *Server) ClientTLSConfig() *tls.Config {
	return &tls.Config{RootCAs: s.CertPool(), MinVersion: tls.VersionTLS12}
}

// ServerTLSConfig returns the serving configuration: the leaf certificate
// (with the CA in its chain), HTTP/1.1 only.
func (s *Server) ServerTLSConfig() *tls.Config {
	return &tls.Config{
		Certificates: []tls.Certificate{s.tls.leaf},
		MinVersion:   tls.VersionTLS12,
		NextProtos:   []string{"http/1.1"},
	}
}

// Listener wraps inner so that each connection is served TLS when its first
// byte is a TLS handshake record (0x16) and plain HTTP otherwise: one port
// for both. The sniffing happens off the Accept loop, so a silent client
// does not hold up others. With httptest:
//
//	ts := httptest.NewUnstartedServer(sim)
//	ts.Listener = sim.Listener(ts.Listener)
//	ts.Start() // ts.URL is http://; https:// works on the same address
func (s *Server) Listener(inner net.Listener) net.Listener {
	l := &dualListener{
		Listener: inner,
		cfg:      s.ServerTLSConfig(),
		conns:    make(chan net.Conn),
		done:     make(chan struct{}),
		acceptEr: make(chan struct{}),
	}
	go l.run()
	return l
}

// dualListener is the listener of Server.Listener.
type dualListener struct {
	net.Listener
	cfg   *tls.Config
	conns chan net.Conn
	done  chan struct{}
	once  sync.Once

	// acceptEr is closed once the inner Accept failed with err.
	acceptEr chan struct{}
	err      error
}

func (l *dualListener) run() {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			l.err = err
			close(l.acceptEr)
			return
		}
		go l.sniff(c)
	}
}

// sniff reads the connection's first byte and hands Accept a TLS or a plain
// connection that still yields that byte.
func (l *dualListener) sniff(c net.Conn) {
	_ = c.SetReadDeadline(time.Now().Add(sniffTimeout))
	br := bufio.NewReader(c)
	first, err := br.Peek(1)
	_ = c.SetReadDeadline(time.Time{})
	if err != nil {
		_ = c.Close()
		return
	}
	var out net.Conn = &peekedConn{Conn: c, r: br}
	if first[0] == 0x16 {
		out = tls.Server(out, l.cfg)
	}
	select {
	case l.conns <- out:
	case <-l.done:
		_ = c.Close()
	}
}

// Accept returns the next sniffed connection.
func (l *dualListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.done:
		return nil, net.ErrClosed
	case <-l.acceptEr:
		return nil, l.err
	}
}

// Close closes the inner listener; connections being sniffed are closed.
func (l *dualListener) Close() error {
	var err error
	l.once.Do(func() {
		close(l.done)
		err = l.Listener.Close()
	})
	return err
}

// peekedConn is a connection whose first bytes were buffered by a peek.
type peekedConn struct {
	net.Conn
	r *bufio.Reader
}

func (c *peekedConn) Read(p []byte) (int, error) { return c.r.Read(p) }
