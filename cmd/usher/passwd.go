package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"golang.org/x/term"
)

// cmdPasswd changes the password of the logged-in user. On a terminal it
// asks for the old password and the new one twice, without echo;
// otherwise it reads the old and the new password from the first two
// lines of standard input.
func cmdPasswd(ctx context.Context, e *env, args []string) error {
	c, a, pos, err := adminCommand(e, "passwd", "passwd [--server URL]", args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return usageErrorf("unexpected argument %q: usher passwd changes your own password; an admin sets another user's with usher user passwd NAME", pos[0])
	}
	oldPw, newPw, err := readPasswordChange(e)
	if err != nil {
		return err
	}
	resp, err := c.ChangePassword(ctx, oldPw, newPw)
	if err != nil {
		return err
	}
	logins, path, err := readLogins(e)
	if err != nil {
		return err
	}
	server := serverKey(c.Server())
	l, saved := logins[server]
	if saved && l.Token == a.credential {
		l.Token, l.ExpiresAt = resp.Token, resp.ExpiresAt
		logins[server] = l
		if err := writeLogins(path, logins); err != nil {
			return fmt.Errorf("password changed, but saving the new login failed (log in again with usher login): %w", err)
		}
	}
	if a.json {
		return printJSON(e, map[string]any{"changed": true, "expires_at": resp.ExpiresAt})
	}
	fmt.Fprintln(e.stdout, "password changed; other logins of this user have ended")
	if saved && l.Token == resp.Token {
		fmt.Fprintf(e.stdout, "logged in again until %s\n", resp.ExpiresAt.Local().Format(time.DateTime))
	}
	return nil
}

// readPasswordChange reads the old and the new password.
func readPasswordChange(e *env) (oldPw, newPw string, err error) {
	if f, ok := e.stdin.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		if oldPw, err = readPassword(e, "Old password: "); err != nil {
			return "", "", err
		}
		if newPw, err = readPassword(e, "New password: "); err != nil {
			return "", "", err
		}
		again, err := readPassword(e, "New password again: ")
		if err != nil {
			return "", "", err
		}
		if again != newPw {
			return "", "", errors.New("the new passwords differ, so nothing was changed: run usher passwd again")
		}
		return oldPw, newPw, nil
	}
	if e.stdin == nil {
		return "", "", errors.New("no standard input to read the passwords from")
	}
	r := bufio.NewReader(e.stdin)
	var lines [2]string
	for i := range lines {
		line, err := r.ReadString('\n')
		if err != nil && !errors.Is(err, io.EOF) {
			return "", "", fmt.Errorf("read passwords from standard input: %w", err)
		}
		if lines[i] = strings.TrimRight(line, "\r\n"); lines[i] == "" {
			return "", "", errors.New("want the old password and the new one on the first two lines of standard input, or run in a terminal to be asked")
		}
	}
	return lines[0], lines[1], nil
}
