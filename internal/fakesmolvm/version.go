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
// .../cmd/fake-smolvm@v1.2.3` records v1.2.3 as the main module's; a
// program of another module that links the fake records it among its
// dependencies), else the -ldflags stamp, else "devel". A build inside a
// work tree may record only "(devel)", and a test binary (smolvmtest)
// records no dependencies at all: both fall back.
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
			// A replacement by a directory has no version ("" or
			// "(devel)"): the required version names what was built.
			for _, v := range []string{replaceVersion(m), m.Version} {
				if v != "" && v != "(devel)" {
					return v
				}
			}
		}
	}
	if v := strings.TrimSpace(Version); v != "" {
		return v
	}
	return "devel"
}

func replaceVersion(m *debug.Module) string {
	if m.Replace == nil {
		return ""
	}
	return m.Replace.Version
}
