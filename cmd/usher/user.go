package main

import (
	"context"
	"crypto/rand"
	"flag"
	"fmt"
	"time"

	"github.com/usher-lm/usher/internal/apiclient"
	"github.com/usher-lm/usher/internal/wire"
)

func cmdLogin(ctx context.Context, e *env, args []string) error {
	var user string
	c, a, pos, err := adminCommandWith(e, "login", "login [--user NAME] [--server URL]", args, func(fs *flag.FlagSet) {
		fs.StringVar(&user, "user", "admin", "user `NAME`")
	})
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return usageErrorf("unexpected argument %q", pos[0])
	}
	password, err := readPassword(e, "Password for "+user+": ")
	if err != nil {
		return err
	}
	resp, err := c.Login(ctx, user, password)
	if err != nil {
		return err
	}
	logins, path, err := readLogins(e)
	if err != nil {
		return err
	}
	server := serverKey(c.Server())
	logins[server] = savedLogin{User: user, Token: resp.Token, ExpiresAt: resp.ExpiresAt}
	if err := writeLogins(path, logins); err != nil {
		return fmt.Errorf("save the login: %w", err)
	}
	if a.json {
		return printJSON(e, map[string]any{"server": server, "user": user, "expires_at": resp.ExpiresAt})
	}
	fmt.Fprintf(e.stdout, "logged in to %s as %s until %s (token saved in %s)\n", server, user, resp.ExpiresAt.Local().Format(time.DateTime), path)
	return nil
}

func cmdLogout(ctx context.Context, e *env, args []string) error {
	var a adminFlags
	fs := newFlagSet(e, "logout", "logout [--server URL]")
	a.register(fs)
	if _, err := parseFlags(fs, args); err != nil {
		return err
	}
	logins, path, err := readLogins(e)
	if err != nil {
		return err
	}
	var lines []string
	n := len(logins)
	for _, server := range a.servers(e) {
		server = serverKey(server)
		if _, ok := logins[server]; !ok {
			lines = append(lines, "not logged in to "+server)
			continue
		}
		delete(logins, server)
		lines = append(lines, "logged out of "+server)
	}
	if len(logins) < n {
		if err := writeLogins(path, logins); err != nil {
			return err
		}
	}
	for _, l := range lines {
		fmt.Fprintln(e.stdout, l)
	}
	return nil
}

func cmdUser(ctx context.Context, e *env, args []string) error {
	if len(args) == 0 {
		return usageErrorf("want a subcommand: add, remove, passwd or list")
	}
	var role string
	var generate bool
	c, a, pos, err := adminCommandWith(e, "user "+args[0], "user add NAME --role ROLE | remove NAME | passwd NAME | list [--generate] [--json]", args[1:], func(fs *flag.FlagSet) {
		fs.StringVar(&role, "role", "", "`ROLE` of a new user: admin, monitor or client")
		fs.BoolVar(&generate, "generate", false, "make up a random password and print it, instead of asking")
	})
	if err != nil {
		return err
	}
	switch args[0] {
	case "add", "passwd":
		if len(pos) != 1 {
			return usageErrorf("want exactly one user name")
		}
		return setUser(ctx, e, c, args[0], pos[0], role, generate)
	case "remove":
		if len(pos) != 1 {
			return usageErrorf("want exactly one user name")
		}
		if err := c.RemoveUser(ctx, pos[0]); err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "removed user %s\n", pos[0])
		return nil
	case "list":
		users, err := c.Users(ctx)
		if err != nil {
			return err
		}
		if a.json {
			return printJSON(e, map[string]any{"users": users})
		}
		t := newTable(e.stdout, "NAME", "ROLE", "CREATED")
		for _, u := range users {
			t.row(u.Name, u.Role, u.CreatedAt.Local().Format(time.DateTime))
		}
		return t.flush()
	}
	return usageErrorf("unknown subcommand %q: want add, remove, passwd or list", args[0])
}

// setUser adds a user or changes its password, asking for the password
// unless generate is set.
func setUser(ctx context.Context, e *env, c *apiclient.Client, verb, name, role string, generate bool) error {
	if verb == "add" && role == "" {
		return usageErrorf("want --role admin, monitor or client")
	}
	password := rand.Text()
	if !generate {
		var err error
		if password, err = readPassword(e, "New password for "+name+": "); err != nil {
			return err
		}
	}
	if verb == "add" {
		if _, err := c.AddUser(ctx, wire.UserRequest{Username: name, Password: password, Role: role}); err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "added user %s with role %s\n", name, role)
	} else {
		if err := c.SetPassword(ctx, name, password); err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "changed the password of %s; its earlier logins have ended\n", name)
	}
	if generate {
		fmt.Fprintf(e.stdout, "password: %s\n", password)
	}
	return nil
}

func cmdToken(ctx context.Context, e *env, args []string) error {
	if len(args) == 0 {
		return usageErrorf("want a subcommand: create, list or revoke")
	}
	var role, name string
	c, a, pos, err := adminCommandWith(e, "token "+args[0], "token create --role ROLE --name NAME | list | revoke NAME|ID [--json]", args[1:], func(fs *flag.FlagSet) {
		fs.StringVar(&role, "role", "", "`ROLE` of a new token: admin, monitor or client")
		fs.StringVar(&name, "name", "", "`NAME` of a new token, e.g. the tool that uses it")
	})
	if err != nil {
		return err
	}
	switch args[0] {
	case "create":
		if name == "" && len(pos) == 1 {
			name = pos[0]
		}
		if name == "" || role == "" {
			return usageErrorf("want --name NAME and --role admin, monitor or client")
		}
		t, err := c.CreateToken(ctx, name, role)
		if err != nil {
			return err
		}
		if a.json {
			return printJSON(e, t)
		}
		fmt.Fprintf(e.stdout, "created API token %s (id %s, role %s). Its secret, shown only now:\n%s\n", t.Name, t.ID, t.Role, t.Token)
		if t.Role == "client" {
			fmt.Fprintln(e.stderr, "note: a client token exists now, so every checkout, heartbeat and release needs a client credential")
		}
		return nil
	case "list":
		return listTokens(ctx, e, c, a)
	case "revoke":
		if len(pos) != 1 {
			return usageErrorf("want exactly one token name or ID")
		}
		t, err := c.RevokeToken(ctx, pos[0])
		if err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "revoked API token %s (id %s)\n", t.Name, t.ID)
		return nil
	}
	return usageErrorf("unknown subcommand %q: want create, list or revoke", args[0])
}

func listTokens(ctx context.Context, e *env, c *apiclient.Client, a *adminFlags) error {
	tokens, err := c.Tokens(ctx)
	if err != nil {
		return err
	}
	if a.json {
		return printJSON(e, map[string]any{"tokens": tokens})
	}
	t := newTable(e.stdout, "ID", "NAME", "ROLE", "CREATED")
	for _, tok := range tokens {
		t.row(tok.ID, tok.Name, tok.Role, tok.CreatedAt.Local().Format(time.DateTime))
	}
	return t.flush()
}
