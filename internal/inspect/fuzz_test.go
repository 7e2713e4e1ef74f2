package inspect

import (
	"testing"

	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// FuzzDecode checks that no input makes Decode panic, and that whatever
// it accepts is reported as one of the four kinds. go test runs the seeds;
// go test -fuzz=FuzzDecode ./internal/inspect explores further.
func FuzzDecode(f *testing.F) {
	fx := newFixture(f)
	f.Add(fx.certPEM)
	f.Add(append(append([]byte{}, fx.certPEM...), fx.caPEM...))
	f.Add(fx.csrPEM)
	f.Add(fx.keyPEM)
	f.Add(kubeconfigWith(f, fx, &clientcmdapi.AuthInfo{ClientCertificateData: fx.certPEM, ClientKeyData: fx.keyPEM}, fx.caPEM))
	f.Add(kubeconfigWith(f, fx, &clientcmdapi.AuthInfo{Token: jwt(`{"sub":"a","aud":["b"],"exp":1e300}`)}, nil))
	f.Add(kubeconfigWith(f, fx, &clientcmdapi.AuthInfo{ClientCertificate: "../../etc/passwd", TokenFile: "/dev/null"}, nil))
	f.Add([]byte("-----BEGIN CERTIFICATE-----\n-----END CERTIFICATE-----\n"))
	f.Add([]byte("apiVersion: v1\nkind: Config\nusers: [{name: x, user: {token: a.b.c}}]\n"))
	f.Add(kubeconfigWith(f, fx, &clientcmdapi.AuthInfo{TokenFile: "/dev/zero"}, nil))
	f.Add([]byte{0xff, 0xfe, 0})
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := Decode(data, dir, now)
		if err != nil {
			return
		}
		switch r.Kind {
		case "certificate", "certificate request", "private key", "kubeconfig":
		default:
			t.Errorf("accepted input reported as kind %q", r.Kind)
		}
	})
}
