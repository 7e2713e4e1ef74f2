// Package pki creates keys and certificate requests for Kubernetes client
// certificates, applies the subject policy, and reads certificates.
package pki

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"strings"

	"k8s.io/client-go/util/keyutil"
)

// KeyType names a private key algorithm and size.
type KeyType string

// The key types kubeaccess can create.
const (
	ECDSAP256 KeyType = "ecdsa-p256"
	ECDSAP384 KeyType = "ecdsa-p384"
	RSA2048   KeyType = "rsa-2048"
	RSA3072   KeyType = "rsa-3072"
	RSA4096   KeyType = "rsa-4096"
	Ed25519   KeyType = "ed25519"
)

// DefaultKeyType is fast to create and accepted by every Kubernetes signer.
const DefaultKeyType = ECDSAP256

// KeyTypes lists the supported key types, default first.
var KeyTypes = []KeyType{ECDSAP256, ECDSAP384, RSA2048, RSA3072, RSA4096, Ed25519}

// ParseKeyType validates a --key-type value.
func ParseKeyType(s string) (KeyType, error) {
	for _, kt := range KeyTypes {
		if string(kt) == s {
			return kt, nil
		}
	}
	names := make([]string, len(KeyTypes))
	for i, kt := range KeyTypes {
		names[i] = string(kt)
	}
	return "", fmt.Errorf("unknown key type %q: use one of %s", s, strings.Join(names, ", "))
}

// GenerateKey creates a private key of type kt.
func GenerateKey(kt KeyType) (crypto.Signer, error) {
	switch kt {
	case ECDSAP256:
		return ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	case ECDSAP384:
		return ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	case RSA2048:
		return rsa.GenerateKey(rand.Reader, 2048)
	case RSA3072:
		return rsa.GenerateKey(rand.Reader, 3072)
	case RSA4096:
		return rsa.GenerateKey(rand.Reader, 4096)
	case Ed25519:
		_, key, err := ed25519.GenerateKey(rand.Reader)
		return key, err
	}
	return nil, fmt.Errorf("unknown key type %q", kt)
}

// MarshalKey encodes a private key as PEM: SEC 1 for ECDSA and PKCS #1 for
// RSA, as kubeadm and openssl write them, and PKCS #8 for Ed25519.
func MarshalKey(key crypto.Signer) ([]byte, error) {
	if edKey, ok := key.(ed25519.PrivateKey); ok {
		der, err := x509.MarshalPKCS8PrivateKey(edKey)
		if err != nil {
			return nil, err
		}
		return pem.EncodeToMemory(&pem.Block{Type: keyutil.PrivateKeyBlockType, Bytes: der}), nil
	}
	return keyutil.MarshalPrivateKeyToPEM(key)
}

// DescribePublicKey names a public key's algorithm and size, e.g. "ECDSA P-256".
func DescribePublicKey(pub crypto.PublicKey) string {
	switch k := pub.(type) {
	case *ecdsa.PublicKey:
		return "ECDSA " + k.Curve.Params().Name
	case *rsa.PublicKey:
		return fmt.Sprintf("RSA %d", k.N.BitLen())
	case ed25519.PublicKey:
		return "Ed25519"
	}
	return fmt.Sprintf("%T", pub)
}

// ParseKey reads a PEM private key in the PKCS#1, SEC 1 or PKCS#8 form,
// Ed25519 included.
func ParseKey(pemData []byte) (crypto.Signer, error) {
	block, _ := pem.Decode(pemData)
	if block == nil {
		return nil, fmt.Errorf("no PEM data found")
	}
	return ParseKeyBlock(block)
}

// ParseKeyBlock reads a private key PEM block (see ParseKey).
func ParseKeyBlock(block *pem.Block) (crypto.Signer, error) {
	var (
		key any
		err error
	)
	switch block.Type {
	case "RSA PRIVATE KEY":
		key, err = x509.ParsePKCS1PrivateKey(block.Bytes)
	case "EC PRIVATE KEY":
		key, err = x509.ParseECPrivateKey(block.Bytes)
	case "PRIVATE KEY":
		key, err = x509.ParsePKCS8PrivateKey(block.Bytes)
	default:
		return nil, fmt.Errorf("unknown private key type %q", block.Type)
	}
	if err != nil {
		return nil, err
	}
	signer, ok := key.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("a %T is not a signing key", key)
	}
	return signer, nil
}
