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
	"strconv"
	"strings"

	"golang.org/x/term"

	"github.com/bedrock-warden/warden/pkg/suggest"
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
	// Width is the terminal's width in columns; 0 when Stdout is not a
	// terminal (no limit).
	Width int
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
	if sio.IsTerminal {
		sio.Width = terminalWidth(os.Stdout, os.Getenv)
	}
	os.Exit(run(ctx, os.Args[1:], sio))
}

// run dispatches args to a command and returns the exit status.
func run(ctx context.Context, args []string, sio *IO) int {
	if sio.Getenv == nil {
		sio.Getenv = func(string) string { return "" }
	}
	if len(args) == 0 {
		usage(sio.Stderr)
		return exitUsage
	}
	switch args[0] {
	case "-h", "--help":
		usage(sio.Stdout)
		return exitOK
	case "help":
		// warden help VERB is warden VERB --help.
		if len(args) > 1 {
			return run(ctx, []string{args[1], "--help"}, sio)
		}
		usage(sio.Stdout)
		return exitOK
	case "--version", "-version", "-v":
		return runVersion(ctx, args[1:], sio)
	}
	c, ok := commands[args[0]]
	if !ok {
		msg := fmt.Sprintf("warden: unknown command %q", args[0])
		names := make([]string, 0, len(commands))
		for n := range commands {
			names = append(names, n)
		}
		if strings.HasPrefix(args[0], "-") {
			msg = fmt.Sprintf("warden: unknown flag %s (flags go after the command: warden <command> [flags])", args[0])
		} else if s := suggest.Closest(args[0], names); s != "" {
			msg += fmt.Sprintf(": did you mean %q?", s)
		}
		fmt.Fprintln(sio.Stderr, msg+" (warden --help lists the commands)")
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
	fmt.Fprintln(w, "\nRun 'warden <command> --help' for a command's flags and examples;")
	fmt.Fprintln(w, "'warden --version' for the version. Exit status: 0 done (nothing to report),")
	fmt.Fprintln(w, "1 done with findings, 2 usage or input error.")
}

// isTerminal reports whether f is a terminal.
func isTerminal(f *os.File) bool {
	return term.IsTerminal(int(f.Fd()))
}

// terminalWidth is $COLUMNS when set, else the width of the terminal f,
// else 0 (no limit).
func terminalWidth(f *os.File, getenv func(string) string) int {
	if n, err := strconv.Atoi(strings.TrimSpace(getenv("COLUMNS"))); err == nil && n > 0 {
		return n
	}
	if w, _, err := term.GetSize(int(f.Fd())); err == nil && w > 0 {
		return w
	}
	return 0
}
