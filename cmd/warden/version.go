package main

import (
	"context"
	"fmt"
	"runtime"
	"runtime/debug"
	"strings"
)

// Set at link time by `make warden` (-ldflags "-X main.version=… -X
// main.commit=…"); otherwise read from the build information Go embeds.
var (
	version = ""
	commit  = ""
)

func init() {
	register(command{name: "version", summary: "print the version, commit and Go toolchain", run: runVersion})
}

// buildVersion says which warden this is: the module version ("(devel)"
// for a build from a checkout) and the commit, when known.
type buildVersion struct {
	Version  string `json:"version"`
	Commit   string `json:"commit"`
	Modified bool   `json:"modified"`
	Go       string `json:"go"`
}

func currentVersion() buildVersion {
	v := buildVersion{Version: version, Commit: commit, Go: runtime.Version()}
	if info, ok := debug.ReadBuildInfo(); ok {
		if v.Version == "" {
			v.Version = info.Main.Version
		}
		for _, s := range info.Settings {
			switch s.Key {
			case "vcs.revision":
				if v.Commit == "" {
					v.Commit = s.Value
				}
			case "vcs.modified":
				v.Modified = v.Modified || s.Value == "true"
			}
		}
	}
	if v.Version == "" {
		v.Version = "(devel)"
	}
	if v.Commit == "" {
		v.Commit = "unknown"
	}
	v.Commit, v.Modified = strings.TrimSuffix(v.Commit, "-dirty"), v.Modified || strings.HasSuffix(v.Commit, "-dirty")
	return v
}

// String is the one line `warden --version` prints.
func (v buildVersion) String() string {
	c := v.Commit
	if len(c) > 12 && c != "unknown" {
		c = c[:12]
	}
	if v.Modified {
		c += "+modified"
	}
	return fmt.Sprintf("warden %s (commit %s, %s)", v.Version, c, v.Go)
}

func runVersion(_ context.Context, args []string, sio *IO) int {
	fl := newFlags("version", "warden version [--format text|json]",
		"Prints the module version and the commit this warden was built from.\n"+
			"`make warden` stamps both; `go build` in a checkout embeds the commit when\n"+
			"version control information is enabled (-buildvcs).",
		"warden --version", "warden version --json").withFormat()
	pos, code, ok := fl.parse(args, sio)
	if !ok {
		return code
	}
	if len(pos) > 0 {
		return fail(sio, "version", fmt.Errorf("takes no arguments, got %q", pos[0]))
	}
	v := currentVersion()
	if fl.JSON() {
		if err := writeJSON(sio.Stdout, v); err != nil {
			return fail(sio, "version", err)
		}
		return exitOK
	}
	fmt.Fprintln(sio.Stdout, v)
	return exitOK
}
