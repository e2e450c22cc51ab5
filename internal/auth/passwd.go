package auth

import (
	"context"
	"time"

	usher "github.com/usher-lm/usher"
)

// ChangePassword changes a user's own password once the old one checks
// out, and returns a new login for the user: the change ends every
// earlier one. A wrong old password counts as a failed login from addr,
// so guessing through this path is backed off as logins are.
//
// Errors: EInvalid for a bad new password, EWrongPassword, ERateLimited or
// EUnavailable (see Login), EUserNotFound.
func (a *Authority) ChangePassword(ctx context.Context, name, oldPassword, newPassword, addr string) (string, time.Time, error) {
	if err := checkPassword(newPassword); err != nil {
		return "", time.Time{}, err
	}
	if err := a.guard.check(name, addr, a.now()); err != nil {
		return "", time.Time{}, err
	}
	ok := false
	if len(oldPassword) <= maxPassword {
		var err error
		if _, ok, err = a.checkLogin(ctx, name, oldPassword); err != nil {
			return "", time.Time{}, err
		}
	}
	if !ok {
		a.guard.fail(name, addr, a.now())
		return "", time.Time{}, usher.Errorf(usher.EWrongPassword, "the old password of %s is wrong, so the password was not changed: try again, or ask an admin to set one with usher user passwd %s", name, name)
	}
	a.guard.succeed(name, addr)
	if err := a.SetPassword(ctx, name, newPassword); err != nil {
		return "", time.Time{}, err
	}
	u, found := a.user(name)
	if !found {
		return "", time.Time{}, userNotFound(name)
	}
	return a.issueJWT(u)
}
