package fakesmolvm

import (
	"runtime/debug"
	"strings"
)

// modulePath is the module fake-smolvm is built from.
const modulePath = "github.com/smolbottle/smolbottle"

// Version is the module version fake-smolvm was built from when the build
// carries none (a build inside a work tree without VCS information):
// `make build` stamps it with -ldflags -X.
var Version = ""

// moduleVersion is the version `smolvm fake version` reports: the version
// of this module as the Go toolchain recorded it (`go install
// .../cmd/fake-smolvm@v1.2.3` records v1.2.3, a build in a git work tree a
// pseudo-version; a test binary that links the fake as a library records
// it among its dependencies), else the -ldflags stamp, else "devel".
func moduleVersion() string {
	return versionFrom(debug.ReadBuildInfo())
}

func versionFrom(bi *debug.BuildInfo, ok bool) string {
	if ok {
		mods := []*debug.Module{&bi.Main}
		mods = append(mods, bi.Deps...)
		for _, m := range mods {
			if m.Path != modulePath {
				continue
			}
			if m.Replace != nil && m.Replace.Version != "" {
				m = m.Replace
			}
			if v := m.Version; v != "" && v != "(devel)" {
				return v
			}
		}
	}
	if v := strings.TrimSpace(Version); v != "" {
		return v
	}
	return "devel"
}
