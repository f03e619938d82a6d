// Package bottle runs coding agents inside smolvm microVMs: it launches a
// machine, runs the agent with or without a TTY, executes scripts as a user,
// copies files in and out, and tears everything down on every exit path.
package bottle
