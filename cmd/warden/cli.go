package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"sort"
	"strings"

	"github.com/bedrock-warden/warden/pkg/suggest"
)

// Every verb shares one way of taking flags, printing help, reporting a
// mistake and choosing its output format:
//
//   - flags may come before or after the arguments (`warden check events/
//     --format json`); "--" ends them;
//   - --help (or -h) prints the verb's usage, description, flags and
//     examples to stdout and exits 0;
//   - an unknown flag, a missing argument or a bad value is one line on
//     stderr that says what is wrong and how to fix it, then exit 2;
//   - verbs that print a result take --format text|json, and --json as
//     its short form (every verb, no exception).

// cmdFlags is the flag set of one verb ("check", "policy push").
type cmdFlags struct {
	name     string // the verb path after "warden"
	synopsis string // "warden check [flags] [PATH ...]"
	about    string // what the verb does, and its exit statuses
	examples []string
	fs       *flag.FlagSet
	format   *string
	jsonFlag *bool
}

// newFlags starts the flag set of the verb name.
func newFlags(name, synopsis, about string, examples ...string) *cmdFlags {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	return &cmdFlags{name: name, synopsis: synopsis, about: about, examples: examples, fs: fs}
}

// withFormat adds --format text|json and --json.
func (c *cmdFlags) withFormat() *cmdFlags {
	c.format = c.fs.String("format", "text", "output `text|json`: text for people, json for scripts")
	c.jsonFlag = c.fs.Bool("json", false, "short for --format json")
	return c
}

// JSON reports whether the verb must print JSON.
func (c *cmdFlags) JSON() bool {
	return c.format != nil && *c.format == "json"
}

// parse parses args (flags anywhere) and returns the positional arguments.
// When it returns ok false the verb must return code: help was printed
// (exitOK) or a one-line error was (exitUsage).
func (c *cmdFlags) parse(args []string, sio *IO) (pos []string, code int, ok bool) {
	for {
		err := c.fs.Parse(args)
		if errors.Is(err, flag.ErrHelp) {
			c.help(sio.Stdout)
			return nil, exitOK, false
		}
		if err != nil {
			fmt.Fprintf(sio.Stderr, "warden %s: %s\n", c.name, c.flagProblem(err))
			return nil, exitUsage, false
		}
		rest := c.fs.Args()
		if len(rest) == 0 {
			break
		}
		// flag stops at the first argument, or after "--": everything
		// after a "--" is an argument.
		if consumed := len(args) - len(rest); consumed > 0 && args[consumed-1] == "--" {
			pos = append(pos, rest...)
			break
		}
		pos = append(pos, rest[0])
		args = rest[1:]
	}
	if c.format != nil {
		switch {
		case *c.jsonFlag && c.set("format") && *c.format != "json":
			return c.usageError(sio, "--json and --format %s contradict each other; pass one", *c.format)
		case *c.jsonFlag:
			*c.format = "json"
		case *c.format != "text" && *c.format != "json":
			return c.usageError(sio, "--format must be text or json, not %q", *c.format)
		}
	}
	return pos, exitOK, true
}

// set reports whether flag name was given.
func (c *cmdFlags) set(name string) bool {
	found := false
	c.fs.Visit(func(f *flag.Flag) { found = found || f.Name == name })
	return found
}

// usageError prints a one-line usage error and returns (nil, exitUsage, false).
func (c *cmdFlags) usageError(sio *IO, format string, a ...any) ([]string, int, bool) {
	fmt.Fprintf(sio.Stderr, "warden %s: %s\n", c.name, fmt.Sprintf(format, a...))
	return nil, exitUsage, false
}

// flagProblem turns the flag package's error into one line with the fix.
func (c *cmdFlags) flagProblem(err error) string {
	msg := err.Error()
	hint := fmt.Sprintf(" (warden %s --help lists the flags)", c.name)
	if name, ok := strings.CutPrefix(msg, "flag provided but not defined: "); ok {
		name = strings.TrimLeft(name, "-")
		var known []string
		c.fs.VisitAll(func(f *flag.Flag) { known = append(known, f.Name) })
		if s := suggest.Closest(name, known); s != "" {
			return fmt.Sprintf("unknown flag --%s: did you mean --%s?", name, s)
		}
		return "unknown flag --" + name + hint
	}
	if name, ok := strings.CutPrefix(msg, "flag needs an argument: "); ok {
		return fmt.Sprintf("flag --%s needs a value%s", strings.TrimLeft(name, "-"), hint)
	}
	if strings.HasPrefix(msg, "invalid value ") || strings.HasPrefix(msg, "invalid boolean value ") {
		// invalid value "x" for flag -n: parse error
		return strings.Replace(msg, "for flag -", "for --", 1)
	}
	return msg + hint
}

// help prints the verb's usage, description, flags and examples.
func (c *cmdFlags) help(w io.Writer) {
	fmt.Fprintf(w, "Usage: %s\n", c.synopsis)
	if c.about != "" {
		fmt.Fprintf(w, "\n%s\n", strings.TrimRight(c.about, "\n"))
	}
	var rows [][2]string
	c.fs.VisitAll(func(f *flag.Flag) {
		kind, usage := flag.UnquoteUsage(f)
		left := "--" + f.Name
		if kind != "" {
			left += " " + kind
		}
		if f.DefValue != "" && f.DefValue != "false" && f.DefValue != "0" {
			usage += " (default " + f.DefValue + ")"
		}
		rows = append(rows, [2]string{left, usage})
	})
	if len(rows) > 0 {
		width := 0
		for _, r := range rows {
			width = max(width, len(r[0]))
		}
		fmt.Fprintln(w, "\nFlags:")
		for _, r := range rows {
			fmt.Fprintf(w, "  %-*s  %s\n", width, r[0], r[1])
		}
	}
	if len(c.examples) > 0 {
		fmt.Fprintln(w, "\nExamples:")
		for _, e := range c.examples {
			fmt.Fprintf(w, "  %s\n", e)
		}
	}
}

// writeJSON prints v as indented JSON.
func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		return fmt.Errorf("write JSON: %w", err)
	}
	return nil
}

// fail prints "warden NAME: ERR" and returns exitUsage. A message that
// already starts with the verb's last word ("export: …" under "policy
// export") does not get it twice.
func fail(sio *IO, name string, err error) int {
	msg := err.Error()
	words := strings.Fields(name)
	if len(words) > 0 {
		msg = strings.TrimPrefix(msg, words[len(words)-1]+": ")
	}
	fmt.Fprintf(sio.Stderr, "warden %s: %s\n", name, msg)
	return exitUsage
}

// subcommand is one verb under a group ("policy push").
type subcommand struct {
	summary string
	run     func(ctx context.Context, args []string, sio *IO) int
}

// dispatch runs the subcommand of group named by args[0]: without one it
// lists them (on stderr, exit 2; on stdout for --help, exit 0); an unknown
// one is a one-line error with the closest name.
func dispatch(ctx context.Context, group string, subs map[string]subcommand, args []string, sio *IO) int {
	names := make([]string, 0, len(subs))
	for n := range subs {
		names = append(names, n)
	}
	sort.Strings(names)
	list := func(w io.Writer) {
		fmt.Fprintf(w, "Usage: warden %s <subcommand> [flags]\n\nSubcommands:\n", group)
		for _, n := range names {
			fmt.Fprintf(w, "  %-10s %s\n", n, subs[n].summary)
		}
		fmt.Fprintf(w, "\nRun 'warden %s <subcommand> --help' for its flags and examples.\n", group)
	}
	if len(args) == 0 {
		fmt.Fprintf(sio.Stderr, "warden %s: missing the subcommand (one of %s)\n\n", group, strings.Join(names, ", "))
		list(sio.Stderr)
		return exitUsage
	}
	if args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		list(sio.Stdout)
		return exitOK
	}
	sc, ok := subs[args[0]]
	if !ok {
		msg := fmt.Sprintf("warden %s: unknown subcommand %q", group, args[0])
		if s := suggest.Closest(args[0], names); s != "" {
			msg += fmt.Sprintf(": did you mean %q?", s)
		} else {
			msg += " (one of " + strings.Join(names, ", ") + ")"
		}
		fmt.Fprintln(sio.Stderr, msg)
		return exitUsage
	}
	return sc.run(ctx, args[1:], sio)
}

// plural returns "1 thing" or "n things" ("1 policy", "2 policies" with
// the plural given).
func plural(n int, noun string, pluralForm ...string) string {
	if n == 1 {
		return "1 " + noun
	}
	if len(pluralForm) > 0 {
		return fmt.Sprintf("%d %s", n, pluralForm[0])
	}
	return fmt.Sprintf("%d %ss", n, noun)
}
