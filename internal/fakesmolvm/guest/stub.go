package guest

// Temporary stubs; replaced by the real implementation.

import "fmt"

func startAgent(cfg Config) (int, error)    { return 0, fmt.Errorf("%w: not implemented", ErrUnsupported) }
func stopAgent(dataDir string) error        { return nil }
func aliveAgent(dataDir string) (int, bool) { return 0, false }
func execClient(string, ExecRequest, Stdio) (int, error) {
	return 0, fmt.Errorf("agent operation failed: connect: %w", ErrNotRunning)
}
func copyClient(string, CopyRequest, interface{ Write([]byte) (int, error) }) error {
	return fmt.Errorf("agent operation failed: connect: %w", ErrNotRunning)
}
func agentMain([]string) int   { return 2 }
func runuserMain([]string) int { return 2 }
func doctor() Report           { return Report{Lines: []string{"not implemented"}} }
