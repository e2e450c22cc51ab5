package main

import (
	"bufio"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/term"

	usher "github.com/usher-lm/usher"
	"github.com/usher-lm/usher/client"
	"github.com/usher-lm/usher/internal/daemon"
)

// loginsFile holds the tokens of "usher login", by server URL, in the
// user's configuration directory.
const loginsFile = "logins.json"

// savedLogin is one server's entry in loginsFile.
type savedLogin struct {
	User      string    `json:"user"`
	Token     string    `json:"token"`
	ExpiresAt time.Time `json:"expires_at"`
}

// configDir is where the CLI keeps its state: $USHER_CONFIG_DIR, else
// usher/ in the user's configuration directory.
func configDir(e *env) (string, error) {
	if d := e.getenv("USHER_CONFIG_DIR"); d != "" {
		return d, nil
	}
	d, err := os.UserConfigDir()
	if err != nil {
		return "", fmt.Errorf("find the configuration directory: %w; set USHER_CONFIG_DIR", err)
	}
	return filepath.Join(d, "usher"), nil
}

func readLogins(e *env) (map[string]savedLogin, string, error) {
	dir, err := configDir(e)
	if err != nil {
		return nil, "", err
	}
	path := filepath.Join(dir, loginsFile)
	logins := map[string]savedLogin{}
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return logins, path, nil
	}
	if err != nil {
		return nil, path, err
	}
	if err := json.Unmarshal(data, &logins); err != nil {
		return nil, path, fmt.Errorf("%s is damaged (%v): delete it and log in again", path, err)
	}
	return logins, path, nil
}

// writeLogins saves the logins with mode 0600, replacing the file whole.
func writeLogins(path string, logins map[string]savedLogin) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	data, err := json.MarshalIndent(logins, "", "  ")
	if err != nil {
		return err
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, append(data, '\n'), 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// serverKey is the form of a server URL that logins are filed under: the
// SDK's, with the scheme and the port spelled out.
func serverKey(server string) string {
	if !strings.Contains(server, "://") {
		server = "http://" + server
	}
	server = strings.TrimRight(server, "/")
	if u, err := url.Parse(server); err == nil && u.Port() == "" && u.Hostname() != "" {
		u.Host = net.JoinHostPort(u.Hostname(), client.DefaultPort)
		return u.String()
	}
	return server
}

// storedLogin returns the unexpired token of "usher login" for the first
// of servers that has one, or "".
func storedLogin(e *env, servers []string) string {
	logins, _, err := readLogins(e)
	if err != nil {
		return ""
	}
	for _, s := range servers {
		if l, ok := logins[serverKey(s)]; ok && time.Now().Before(l.ExpiresAt) {
			return l.Token
		}
	}
	return ""
}

// tlsFingerprint returns the server certificate's fingerprint to pin:
// the one given, else the certificate of --tls-auto in --data, else "".
func (a *adminFlags) tlsFingerprint(e *env) string {
	fp := firstNonEmpty(a.fingerprint, e.getenv("USHER_TLS_FINGERPRINT"))
	if fp == "" && a.data != "" {
		if data, err := os.ReadFile(filepath.Join(a.data, daemon.TLSAutoCertFile)); err == nil {
			if block, _ := pem.Decode(data); block != nil {
				fp = usher.CertificateFingerprint(block.Bytes)
			}
		}
	}
	return fp
}

// readPassword prompts on the terminal without echo, or reads the first
// line of standard input when it is not a terminal.
func readPassword(e *env, prompt string) (string, error) {
	if f, ok := e.stdin.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		fmt.Fprint(e.stderr, prompt)
		b, err := term.ReadPassword(int(f.Fd()))
		fmt.Fprintln(e.stderr)
		if err != nil {
			return "", fmt.Errorf("read password: %w", err)
		}
		return string(b), nil
	}
	if e.stdin == nil {
		return "", errors.New("no standard input to read the password from")
	}
	line, err := bufio.NewReader(e.stdin).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return "", fmt.Errorf("read password from standard input: %w", err)
	}
	line = strings.TrimRight(line, "\r\n")
	if line == "" {
		return "", errors.New("no password on standard input: pipe it in, or run in a terminal to be asked")
	}
	return line, nil
}

// printSecurityBanner tells where the admin password is and which
// certificate fingerprint clients should pin.
func printSecurityBanner(e *env, cfg daemon.Config, d *daemon.Daemon) {
	if p := filepath.Join(cfg.Data, daemon.AdminPasswordFile); fileExists(p) {
		fmt.Fprintf(e.stderr, "Admin user: admin, password in %s (log in with: usher login --server %s)\n", p, d.URL())
	}
	if fp := d.TLSFingerprint(); fp != "" {
		fmt.Fprintf(e.stderr, "TLS certificate SHA-256 fingerprint: %s\n  clients pin it: USHER_TLS_FINGERPRINT=%s usher status (or --tls-fingerprint)\n", fp, fp)
	}
}

func fileExists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}
