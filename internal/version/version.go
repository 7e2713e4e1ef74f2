// Package version reports which build of kubeaccess is running.
package version

import (
	"runtime"
	"runtime/debug"
)

// gitVersion, gitCommit and buildDate are set at build time (make dist) with
// -ldflags "-X github.com/kubeaccess/kubeaccess/internal/version.gitVersion=v1.2.3 ...".
var (
	gitVersion = ""
	gitCommit  = ""
	buildDate  = ""
)

// Info describes a kubeaccess build.
type Info struct {
	Version   string `json:"version"`
	Commit    string `json:"commit,omitempty"`
	BuildDate string `json:"buildDate,omitempty"`
	GoVersion string `json:"goVersion"`
	Platform  string `json:"platform"`
}

// Get returns the running build's version. Without a version stamped at link
// time it falls back to the module version recorded by "go install", and to
// "devel" for a plain "go build".
func Get() Info {
	v := gitVersion
	if v == "" {
		v = "devel"
		if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
			v = bi.Main.Version
		}
	}
	return Info{Version: v, Commit: gitCommit, BuildDate: buildDate, GoVersion: runtime.Version(), Platform: runtime.GOOS + "/" + runtime.GOARCH}
}

// HousekeepingAgentPrefix starts the user agent of the requests kubeaccess
// makes with a credential it issued, to check or renew it (grant's
// verification, complete, the renewing plugin): the audit log shows them
// made with the credential, and trace does not count them as its use.
const HousekeepingAgentPrefix = "kubeaccess-housekeeping/"

// HousekeepingAgent is the user agent of those requests.
func HousekeepingAgent() string { return HousekeepingAgentPrefix + Get().Version }
