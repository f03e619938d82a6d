package bottle_test

import (
	"context"
	"fmt"
	"log"

	"github.com/smolbottle/smolbottle/bottle"
)

func ExampleAgentArgv() {
	inv, err := bottle.AgentArgv(bottle.Target{Name: "b1"}, bottle.Agent{PromptPath: "/run/prompt.md"},
		[]string{"--dangerously-skip-permissions"}, bottle.TTY)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(bottle.ShellQuote(inv.Argv))
	// Output:
	// smolvm machine exec --name b1 -i -t -e HOME=/home/node -e USER=node -- runuser -u node -- claude --append-system-prompt-file /run/prompt.md --dangerously-skip-permissions
}

func ExampleExecArgv() {
	t := bottle.Target{
		Name:    "b1",
		Env:     []bottle.EnvVar{{Key: "HTTPS_PROXY", Value: "http://proxy:3128"}},
		Secrets: map[string]string{"TOKEN": "never in argv"},
	}
	inv, err := bottle.ExecArgv(t, "echo $TOKEN", "root")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(bottle.ShellQuote(inv.Argv))
	fmt.Println(len(inv.Env), "secret in smolvm's environment")
	// Output:
	// smolvm machine exec --name b1 -e HOME=/root -e USER=root -e HTTPS_PROXY=http://proxy:3128 -e TOKEN -- runuser -u root -- /bin/sh -c 'echo $TOKEN'
	// 1 secret in smolvm's environment
}

// Launch a bottle, use it, and tear it down on every path.
func ExampleLaunch() {
	ctx := context.Background()
	m, err := bottle.Launch(ctx, bottle.Spec{
		Target: bottle.Target{Env: []bottle.EnvVar{{Key: "CI", Value: "1"}}},
		Image:  "node:22", Network: true,
	})
	if err != nil {
		log.Fatal(err) // whatever Launch made is already gone
	}
	defer m.Close() // stop + delete

	if err := m.CopyIn(ctx, "prompt.md", "/home/node/prompt.md", bottle.UploadOptions{}); err != nil {
		log.Fatal(err)
	}
	res, err := m.Exec(ctx, "ls -l ~", "node")
	if err != nil {
		log.Fatal(err) // smolvm itself failed
	}
	fmt.Printf("exit %d\n%s", res.ExitCode, res.Stdout)
}
