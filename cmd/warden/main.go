// Command warden is the Bedrock Warden CLI for people: check events against
// the policy, scan CloudTrail history, flip remediation toggles and undo
// remediations.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sort"
	"strings"
)

// Exit statuses shared by every command.
const (
	exitOK       = 0 // success, nothing to report
	exitFindings = 1 // success, findings reported
	exitUsage    = 2 // bad usage or input errors
)

// IO is what a command reads and writes; tests swap it.
type IO struct {
	Stdin  io.Reader
	Stdout io.Writer
	Stderr io.Writer
	// Getenv reads the environment (os.Getenv unless a test swaps it).
	Getenv func(string) string
	// IsTerminal reports whether Stdout is a terminal (colour, progress).
	IsTerminal bool
}

// command is one top-level verb of the CLI.
type command struct {
	name    string
	summary string
	run     func(ctx context.Context, args []string, io *IO) int
}

// commands holds every verb; each verb's file registers itself in init.
var commands = map[string]command{}

func register(c command) {
	if _, dup := commands[c.name]; dup {
		panic("warden: command registered twice: " + c.name)
	}
	commands[c.name] = c
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	sio := &IO{Stdin: os.Stdin, Stdout: os.Stdout, Stderr: os.Stderr, Getenv: os.Getenv, IsTerminal: isTerminal(os.Stdout)}
	os.Exit(run(ctx, os.Args[1:], sio))
}

// run dispatches args to a command and returns the exit status.
func run(ctx context.Context, args []string, sio *IO) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		usage(sio.Stdout)
		if len(args) == 0 {
			return exitUsage
		}
		return exitOK
	}
	c, ok := commands[args[0]]
	if !ok {
		fmt.Fprintf(sio.Stderr, "warden: unknown command %q\n\n", args[0])
		usage(sio.Stderr)
		return exitUsage
	}
	return c.run(ctx, args[1:], sio)
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "warden: compliance monitor for Amazon Bedrock")
	fmt.Fprintln(w, "\nUsage: warden <command> [flags] [args]\n\nCommands:")
	names := make([]string, 0, len(commands))
	for n := range commands {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(w, "  %-12s %s\n", n, commands[n].summary)
	}
	fmt.Fprintln(w, "\nRun 'warden <command> --help' for a command's flags.")
}

func isTerminal(f *os.File) bool {
	fi, err := f.Stat()
	if err != nil {
		return false
	}
	return fi.Mode()&os.ModeCharDevice != 0 && !strings.EqualFold(os.Getenv("TERM"), "dumb")
}
