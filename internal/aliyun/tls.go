package aliyun

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"net/http"
	"os"
)

// LoadRootCAs returns the system's trusted roots plus the certificates of
// the PEM file caFile: the pool every outgoing HTTPS call should verify
// servers with when an extra CA is configured (RDSGATE_CA_FILE). The
// system's roots are what crypto/x509 reads, so SSL_CERT_FILE and
// SSL_CERT_DIR keep their meaning. A file that cannot be read, or holds no
// certificate or anything but certificates, is an error.
func LoadRootCAs(caFile string) (*x509.CertPool, error) {
	b, err := os.ReadFile(caFile)
	if err != nil {
		return nil, fmt.Errorf("CA file: %w", err)
	}
	pool, err := x509.SystemCertPool()
	if err != nil || pool == nil {
		pool = x509.NewCertPool()
	}
	n := 0
	for rest := b; ; {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			break
		}
		if block.Type != "CERTIFICATE" {
			return nil, fmt.Errorf("CA file %s: a PEM block of type %q: want only CERTIFICATE blocks", caFile, block.Type)
		}
		cert, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("CA file %s: certificate %d: %w", caFile, n+1, err)
		}
		pool.AddCert(cert)
		n++
	}
	if n == 0 {
		return nil, fmt.Errorf("CA file %s: no PEM certificate in it", caFile)
	}
	return pool, nil
}

// SetDefaultRootCAs makes pool the roots that http.DefaultTransport, and
// every transport cloned from it afterwards, verifies servers with.
//
// It exists for credentials-go (v1.4.14), whose STS, ECS metadata, OIDC
// and credentials-URI calls offer no transport or TLS option: each call
// builds an http.Client over a clone of http.DefaultTransport. Changing
// the default transport is the only way to make those calls trust a
// private CA short of replacing the system's roots (SSL_CERT_FILE). Call it
// once at start, before any goroutine makes HTTP calls: it writes the
// shared transport without synchronisation. It changes nothing else of
// the transport's TLS settings. pool nil is a no-op.
func SetDefaultRootCAs(pool *x509.CertPool) error {
	if pool == nil {
		return nil
	}
	t, ok := http.DefaultTransport.(*http.Transport)
	if !ok {
		return errors.New("set default root CAs: http.DefaultTransport is not an *http.Transport")
	}
	cfg := &tls.Config{}
	if t.TLSClientConfig != nil {
		cfg = t.TLSClientConfig.Clone()
	}
	cfg.RootCAs = pool
	t.TLSClientConfig = cfg
	return nil
}
