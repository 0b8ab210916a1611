//go:build ignore

// Command wireguard_go_vectors prints WireGuard known-answer vectors made by wireguard-go's own
// device package, for lib/protocol/wireguard_go_vectors_test.ts.
//
// wireguard-go draws ephemeral keys, indices and cookie secrets and nonces from crypto/rand, and
// handshake timestamps from the clock. So this program copies wireguard-go's device and tai64n
// packages into a temporary GOPATH, replaces just those calls with fixed inputs, adds
// wireguard_go_vectors_device.go (which runs inside package device, where the handshake state
// lives) and runs it. wireguard-go's source is never changed in place or committed, and nothing
// is fetched from the network.
//
// Run from the repository root, with Debian's Go and wireguard-go source installed
// (apt-get install golang golang-golang.zx2c4-wireguard-dev):
//
//	GO111MODULE=off go run scripts/kat/wireguard_go_vectors.go -o lib/protocol/testdata/wireguard_go_vectors.json
//	deno fmt lib/protocol/testdata/wireguard_go_vectors.json
//
// -gopath names another GOPATH holding golang.zx2c4.com/wireguard and its dependencies.
package main

import (
	_ "embed"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

//go:embed wireguard_go_vectors_device.go
var deviceSide string

const wgImport = "golang.zx2c4.com/wireguard"

// edit is one textual replacement in the temporary copy; each must match at least once, so a
// wireguard-go whose code moved fails loudly instead of producing random vectors.
type edit struct{ file, old, new string }

var edits = []edit{
	// Every rand.Read of package device: ephemeral keys, indices, cookie secrets and nonces.
	{"device/noise-helpers.go", "\t\"crypto/rand\"\n", ""},
	{"device/noise-helpers.go", "rand.Read(", "katRandRead("},
	{"device/indextable.go", "\t\"crypto/rand\"\n", ""},
	{"device/indextable.go", "rand.Read(", "katRandRead("},
	{"device/cookie.go", "\t\"crypto/rand\"\n", ""},
	{"device/cookie.go", "rand.Read(", "katRandRead("},
	// The handshake timestamp: tai64n.Now stamps Clock() instead of time.Now().
	{"tai64n/tai64n.go", "stamp(time.Now())", "stamp(Clock())"},
}

const clockFile = `package tai64n

import "time"

// Clock is the time Now stamps; the known-answer generator fixes it.
var Clock = time.Now
`

const mainFile = `package main

import (
	"os"

	"golang.zx2c4.com/wireguard/device"
)

func main() {
	os.Stdout.Write(device.WeftKnownAnswers())
}
`

func main() {
	gopath := flag.String("gopath", "/usr/share/gocode", "GOPATH holding "+wgImport+" and its dependencies")
	out := flag.String("o", "", "write the JSON here instead of to stdout")
	flag.Parse()
	if err := run(*gopath, *out); err != nil {
		fmt.Fprintln(os.Stderr, "wireguard_go_vectors:", err)
		os.Exit(1)
	}
}

func run(gopath, out string) error {
	tmp, err := os.MkdirTemp("", "weft-kat-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	src := filepath.Join(gopath, "src", wgImport)
	dst := filepath.Join(tmp, "src", wgImport)
	for _, pkg := range []string{"device", "tai64n"} {
		if err := copyPackage(filepath.Join(src, pkg), filepath.Join(dst, pkg)); err != nil {
			return err
		}
	}
	for _, e := range edits {
		if err := apply(dst, e); err != nil {
			return err
		}
	}
	// A rand import left anywhere in the copy would make some vector random: refuse.
	files, _ := filepath.Glob(filepath.Join(dst, "device", "*.go"))
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			return err
		}
		if strings.Contains(string(b), `"crypto/rand"`) {
			return fmt.Errorf("%s still imports crypto/rand: add an edit for it", f)
		}
	}
	side := strings.Replace(deviceSide, "//go:build ignore\n", "", 1)
	writes := map[string]string{
		filepath.Join(dst, "device", "zz_weft_kat.go"):  side,
		filepath.Join(dst, "tai64n", "zz_weft_kat.go"):  clockFile,
		filepath.Join(tmp, "src", "weftkat", "main.go"): mainFile,
	}
	for path, text := range writes {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
			return err
		}
	}
	bin := filepath.Join(tmp, "weftkat")
	build := exec.Command("go", "build", "-o", bin, "weftkat")
	// GOPATH mode, the patched copy first; no network, no cgo (so no C compiler is needed).
	build.Env = append(os.Environ(), "GO111MODULE=off", "GOFLAGS=", "GOPROXY=off", "CGO_ENABLED=0",
		"GOPATH="+tmp+string(os.PathListSeparator)+gopath)
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		return fmt.Errorf("go build: %w", err)
	}
	gen := exec.Command(bin)
	gen.Stderr = os.Stderr
	json, err := gen.Output()
	if err != nil {
		return fmt.Errorf("generator: %w", err)
	}
	if out == "" {
		_, err = os.Stdout.Write(json)
		return err
	}
	return os.WriteFile(out, json, 0o644)
}

// copyPackage copies a package's non-test Go files.
func copyPackage(from, to string) error {
	if err := os.MkdirAll(to, 0o755); err != nil {
		return err
	}
	files, err := filepath.Glob(filepath.Join(from, "*.go"))
	if err != nil || len(files) == 0 {
		return fmt.Errorf("no Go files in %s (is golang-golang.zx2c4-wireguard-dev installed?)", from)
	}
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		b, err := os.ReadFile(f)
		if err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(to, filepath.Base(f)), b, 0o644); err != nil {
			return err
		}
	}
	return nil
}

func apply(root string, e edit) error {
	path := filepath.Join(root, e.file)
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	if !strings.Contains(string(b), e.old) {
		return fmt.Errorf("%s: %q not found; wireguard-go changed, update the edits", e.file, e.old)
	}
	return os.WriteFile(path, []byte(strings.ReplaceAll(string(b), e.old, e.new)), 0o644)
}
