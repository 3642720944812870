package audit

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
)

// LoadSigningKey reads an Ed25519 private key from a PEM file holding a
// PKCS#8 "PRIVATE KEY" block, as made by
//
//	openssl genpkey -algorithm ed25519 -out audit-signing.pem
//
// or by GenerateKeyFile.
func LoadSigningKey(path string) (ed25519.PrivateKey, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("load audit signing key: %w", err)
	}
	block, _ := pem.Decode(b)
	if block == nil || block.Type != "PRIVATE KEY" {
		return nil, fmt.Errorf("load audit signing key %s: no PEM \"PRIVATE KEY\" (PKCS#8) block", path)
	}
	k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("load audit signing key %s: %w", path, err)
	}
	key, ok := k.(ed25519.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("load audit signing key %s: a %T, not an Ed25519 key", path, k)
	}
	return key, nil
}

// LoadPublicKey reads an Ed25519 public key from a PEM file holding a PKIX
// "PUBLIC KEY" block, as made by
//
//	openssl pkey -in audit-signing.pem -pubout -out audit-signing.pub
//
// or by GenerateKeyFile. A PKCS#8 private key file is accepted too: its
// public half is returned.
func LoadPublicKey(path string) (ed25519.PublicKey, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("load audit public key: %w", err)
	}
	block, _ := pem.Decode(b)
	if block == nil {
		return nil, fmt.Errorf("load audit public key %s: no PEM block", path)
	}
	switch block.Type {
	case "PUBLIC KEY":
		k, err := x509.ParsePKIXPublicKey(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("load audit public key %s: %w", path, err)
		}
		pub, ok := k.(ed25519.PublicKey)
		if !ok {
			return nil, fmt.Errorf("load audit public key %s: a %T, not an Ed25519 key", path, k)
		}
		return pub, nil
	case "PRIVATE KEY":
		key, err := LoadSigningKey(path)
		if err != nil {
			return nil, err
		}
		return key.Public().(ed25519.PublicKey), nil
	}
	return nil, fmt.Errorf("load audit public key %s: PEM block %q, want \"PUBLIC KEY\"", path, block.Type)
}

// GenerateKeyFile creates a new Ed25519 signing key at path (PKCS#8 PEM,
// mode 0600) and its public key at path+".pub" (PKIX PEM, mode 0644), for
// development; production keys are made and kept by the operator. It
// refuses to overwrite an existing file (the error wraps fs.ErrExist), and
// leaves nothing behind when either file exists.
func GenerateKeyFile(path string) (ed25519.PrivateKey, error) {
	pub, key, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("generate audit signing key: %w", err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, fmt.Errorf("generate audit signing key: %w", err)
	}
	pubDER, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return nil, fmt.Errorf("generate audit signing key: %w", err)
	}
	if err := writeNew(path, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600); err != nil {
		return nil, fmt.Errorf("generate audit signing key: %w", err)
	}
	if err := writeNew(path+".pub", pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pubDER}), 0o644); err != nil {
		// Never a key beside a public half that is not its own.
		return nil, errors.Join(fmt.Errorf("generate audit signing key: %w", err), os.Remove(path))
	}
	return key, nil
}

func writeNew(path string, b []byte, mode os.FileMode) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, mode)
	if err != nil {
		return err
	}
	_, err = f.Write(b)
	return errors.Join(err, f.Close())
}
