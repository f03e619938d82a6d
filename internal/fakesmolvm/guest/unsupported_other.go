//go:build !linux

package guest

import (
	"fmt"
	"io"
	"runtime"
)

func errNoLinux() error {
	return fmt.Errorf("%w: fake-smolvm guests need Linux namespaces and this is %s; run the tests on Linux (or in a Linux VM or container that allows user namespaces)", ErrUnsupported, runtime.GOOS)
}

func startAgent(Config) (int, func(), error)             { return 0, nil, errNoLinux() }
func stopAgent(string) error                             { return nil }
func aliveAgent(string) (int, bool)                      { return 0, false }
func execClient(string, ExecRequest, Stdio) (int, error) { return 0, errNoLinux() }
func copyClient(string, CopyRequest, io.Writer) error    { return errNoLinux() }
func agentMain([]string) int                             { return 2 }
func runuserMain([]string) int                           { return 2 }
func doctor(bool) Report                                 { return Report{Lines: []string{errNoLinux().Error()}} }
func addBusybox(string) error                            { return errNoLinux() }

func stopAllUnder(string) {}

func idShiftHere() int { return 0 }
