package records

import (
	"slices"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/fake"
)

var identified = []Record{
	{ID: "c-4005aa11bb22cc33", User: "dave", Kind: "certificate", SHA256: "4005aa11bb22cc33dd44ee55ff660077889900aabbccddeeff00112233445566",
		Serial: "8f3e21a9c0d4", CredentialGroup: "kubeaccess:credential:c8c1d2e3f4a5b6c7"},
	{ID: "c-4005aa99887766aa", User: "ann", Kind: "certificate", SHA256: "4005aa99887766aa5544332211000011223344556677889900aabbccddeeff00", Serial: "1234567890ab"},
	{ID: "t-0011223344556677", User: "system:serviceaccount:ci:bot", Kind: "token", JTI: "6f9d1c2e-0000-4a5b-9c8d-7e6f5a4b3c2d"},
}

func TestMatch(t *testing.T) {
	dave, ann, bot := identified[0].ID, identified[1].ID, identified[2].ID
	for ident, want := range map[string][]string{
		"record ID":                  {dave},
		"record ID prefix":           {dave},
		"credential group":           {dave},
		"credential group suffix":    {dave},
		"group suffix prefix":        {dave},
		"credential ID":              {dave},
		"fingerprint, upper case":    {dave},
		"fingerprint with colons":    {dave},
		"serial":                     {dave},
		"serial, colons, upper case": {dave},
		"token credential ID":        {bot},
		"token record ID":            {bot},
		"shared prefix":              {dave, ann},
		"short prefix":               nil,
		"short record ID prefix":     nil,
		"partial JTI":                nil,
		"empty":                      nil,
		"bare group prefix":          nil,
	} {
		in := map[string]string{
			"record ID":                  "c-4005aa11bb22cc33",
			"record ID prefix":           "c-4005aa11",
			"credential group":           "kubeaccess:credential:c8c1d2e3f4a5b6c7",
			"credential group suffix":    "c8c1d2e3f4a5b6c7",
			"group suffix prefix":        "c8c1d2",
			"credential ID":              "X509SHA256=4005aa11bb22cc33dd44ee55ff660077889900aabbccddeeff00112233445566",
			"fingerprint, upper case":    "4005AA11BB22CC33DD44",
			"fingerprint with colons":    "40:05:aa:11:bb",
			"serial":                     "8f3e21a9c0d4",
			"serial, colons, upper case": "8F:3E:21:A9",
			"token credential ID":        "JTI=6f9d1c2e-0000-4a5b-9c8d-7e6f5a4b3c2d",
			"token record ID":            "t-0011223344556677",
			"shared prefix":              "4005aa",
			"short prefix":               "4005a",
			"short record ID prefix":     "c-4005a",
			"partial JTI":                "JTI=6f9d1c2e",
			"empty":                      "",
			"bare group prefix":          "kubeaccess:credential:",
		}[ident]
		var got []string
		for _, r := range Match(identified, in) {
			got = append(got, r.ID)
		}
		if !slices.Equal(got, want) {
			t.Errorf("%s: Match(%q) = %v, want %v", ident, in, got, want)
		}
	}
}

func TestFindSaysWhatIsAmbiguousOrMissing(t *testing.T) {
	var objs []runtime.Object
	for _, r := range identified {
		cm, err := toConfigMap("kubeaccess-system", r)
		if err != nil {
			t.Fatal(err)
		}
		objs = append(objs, cm)
	}
	store := Store{Client: fake.NewClientset(objs...), Namespace: "kubeaccess-system"}
	if r, err := store.Find(t.Context(), "8f3e21a9c0d4"); err != nil || r.ID != identified[0].ID {
		t.Errorf("Find by serial = %v, %v", r.ID, err)
	}
	_, err := store.Find(t.Context(), "4005aa")
	if err == nil || !strings.Contains(err.Error(), `"4005aa" names 2 credentials: c-4005aa11bb22cc33 (dave, certificate), c-4005aa99887766aa (ann, certificate); give more of it`) {
		t.Errorf("ambiguous prefix: %v", err)
	}
	if _, err := store.Find(t.Context(), "ffffffff"); err == nil || !strings.Contains(err.Error(), `no record of a credential "ffffffff"`) {
		t.Errorf("unknown credential: %v", err)
	}
}
