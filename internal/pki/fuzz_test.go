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
	f.Fuzz(func(t *testing.T, data []byte) {
		req, err := ParseRequest(data)
		if err == nil && req.CheckSignature() != nil {
			t.Error("accepted a request whose signature does not hold")
		}
	})
}
