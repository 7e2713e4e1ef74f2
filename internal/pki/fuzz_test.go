package pki

import "testing"

// FuzzParseRequest checks that no input makes ParseRequest panic, and that
// an accepted request's signature holds.
func FuzzParseRequest(f *testing.F) {
	key, err := GenerateKey(ECDSAP256)
	if err != nil {
		f.Fatal(err)
	}
	good, err := CreateRequest(key, Subject("dave", []string{"dev"}))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(good)
	f.Add([]byte("-----BEGIN CERTIFICATE REQUEST-----\nMIIB\n-----END CERTIFICATE REQUEST-----\n"))
	f.Add([]byte("not pem"))
	// The property is that no input makes parsing or the request policy
	// panic: ParseRequest itself verifies the signature, so checking it
	// again here could never fail.
	f.Fuzz(func(t *testing.T, data []byte) {
		if req, err := ParseRequest(data); err == nil {
			_ = CheckRequest(req)
		}
	})
}
