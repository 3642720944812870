package web_test

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/rdsgate/rdsgate/internal/app"
)

// fileWith files a request as alice with extra headers and returns the
// context its policy decision saw.
func fileWith(t *testing.T, env apiEnv, client *http.Client, headers map[string]string) (sourceIP string, secure bool) {
	t.Helper()
	raw, _ := json.Marshal(validBody())
	req, _ := http.NewRequest("POST", env.url+"/api/v1/requests", bytes.NewReader(raw))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+env.tokens["alice"])
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("file: %d", resp.StatusCode)
	}
	err = env.pool.QueryRow(context.Background(), `SELECT payload->'input'->'context'->>'source_ip',
    (payload->'input'->'context'->>'secure_transport')::boolean
FROM audit_events WHERE kind = 'policy.decided' ORDER BY id DESC LIMIT 1`).Scan(&sourceIP, &secure)
	if err != nil {
		t.Fatal(err)
	}
	return sourceIP, secure
}

// Behind a trusted proxy the policy reads the client's address from
// X-Forwarded-For and TLS from X-Forwarded-Proto; from anyone else those
// headers are ignored.
func TestTrustedProxies(t *testing.T) {
	t.Parallel()
	spoof := map[string]string{"X-Forwarded-For": "203.0.113.10", "X-Forwarded-Proto": "https"}
	untrusted := setupAPI(t)
	if ip, secure := fileWith(t, untrusted, http.DefaultClient, spoof); ip != "127.0.0.1" || secure {
		t.Errorf("from an untrusted peer: source_ip %s, secure %v; want the peer's address and false", ip, secure)
	}
	_, loopback, _ := net.ParseCIDR("127.0.0.0/8")
	trusted := setupAPIWith(t, func(c *app.Config) { c.Web.TrustedProxies = []*net.IPNet{loopback} })
	if ip, secure := fileWith(t, trusted, http.DefaultClient, spoof); ip != "203.0.113.10" || !secure {
		t.Errorf("through a trusted proxy: source_ip %s, secure %v; want 203.0.113.10 and true", ip, secure)
	}
	// The rightmost address that is not a trusted proxy's is the client's.
	chain := map[string]string{"X-Forwarded-For": "198.51.100.1, 203.0.113.10, 127.0.0.1"}
	if ip, _ := fileWith(t, trusted, http.DefaultClient, chain); ip != "203.0.113.10" {
		t.Errorf("through two proxies: source_ip %s", ip)
	}
}

// RDSGATE_TLS_CERT_FILE / RDSGATE_TLS_KEY_FILE serve HTTPS, and a request
// over it is acs:SecureTransport.
func TestTLSListener(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	cert, key := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	writeSelfSigned(t, cert, key)
	env := setupAPIWith(t, func(c *app.Config) { c.Web.TLSCertFile, c.Web.TLSKeyFile = cert, key })
	client := &http.Client{Transport: apiContract.transport(&http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}})}
	if _, secure := fileWith(t, env, client, nil); !secure {
		t.Error("a request over TLS is not secure_transport")
	}
}

func writeSelfSigned(t *testing.T, certFile, keyFile string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "127.0.0.1"},
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kb, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}), 0o600); err != nil {
		t.Fatal(err)
	}
}
