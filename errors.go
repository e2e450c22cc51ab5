// Package usher is the domain of the Usher floating license server: signed
// licenses, the features and seats they grant, the leases that applications
// hold, and the rules that decide every checkout. It imports only the
// standard library; storage and transport live in adapter packages.
package usher

import (
	"errors"
	"fmt"
)

// Error codes. They are part of the HTTP API contract: clients match on
// them, so they never change once released.
const (
	ENoSeats           = "no_seats_available"
	EFeatureNotFound   = "feature_not_found"
	EFeatureNotStarted = "feature_not_started"
	EFeatureExpired    = "feature_expired"
	ELeaseNotFound     = "lease_not_found"
	ELicenseNotFound   = "license_not_found"
	ELicenseInvalid    = "license_invalid"
	ELicenseExists     = "license_exists"
	EInvalid           = "invalid_request"
	EUnauthorized      = "unauthorized"
	EForbidden         = "forbidden"    // the credential is valid but its role may not do this
	ERateLimited       = "rate_limited" // too many requests from one address: retry after a pause
	EUnavailable       = "unavailable"
	EInternal          = "internal"
	EUserNotFound      = "user_not_found"  // no user has that name
	EUserExists        = "user_exists"     // a user has that name already
	ETokenNotFound     = "token_not_found" // no API token has that name or ID
	ETokenExists       = "token_exists"    // an API token has that name already
	EWrongPassword     = "wrong_password"  // a change of one's own password gave a wrong old one
)

// Codes of lease ownership and of the per-address limits.
const (
	// ELeaseHeldElsewhere refuses a lease to a caller other than its
	// owner: another credential or, on an open server, another address.
	ELeaseHeldElsewhere = "lease_held_elsewhere"
	// ETooManyLeases refuses a checkout from a client address that holds
	// as many leases as one address may (AddressLimits).
	ETooManyLeases = "too_many_leases"
	// ETooManyWaiters refuses a place in line to a client address that has
	// as many checkouts waiting as one address may (AddressLimits).
	ETooManyWaiters = "too_many_waiters"
)

// Codes of licenses bound to a server or a host.
const (
	// ELicenseBoundElsewhere refuses a license bound to another server or
	// host than this one.
	ELicenseBoundElsewhere = "license_bound_elsewhere"
	// ELicenseInUseElsewhere refuses a checkout of a feature of a bound
	// license while another server with the same identity serves it on
	// this host.
	ELicenseInUseElsewhere = "license_in_use_elsewhere"
	// ELicenseReleased refuses to load a license this server released
	// (usher license release): its seats moved to another server.
	ELicenseReleased = "license_released"
	// EHardwareKeyNotAccessible refuses a checkout or heartbeat of a
	// feature only licenses requiring a hardware key grant, while that
	// key is not plugged in or does not answer.
	EHardwareKeyNotAccessible = "hardware_key_not_accessible"
)

// Codes of the trust a client puts in a server's answers, and of the
// server's clock.
const (
	// EUntrustedServer: the SDK, given the vendor's keys, could not verify
	// that a licensed server answered (see docs/sdk.md). The SDK makes it;
	// no server sends it.
	EUntrustedServer = "untrusted_server"
	// EClockSkew: the server's time in a verified answer is far from the
	// client's clock. The SDK makes it.
	EClockSkew = "clock_skew"
	// EClockTampered refuses a checkout of a feature with a start or
	// expiry date while the server's clock is behind a time it has seen.
	EClockTampered = "clock_tampered"
)

// Codes of the licensing models (docs/licensing-models.md).
const (
	// EBorrowNotAllowed refuses a borrow longer than the grant allows, or
	// of a feature whose grants allow none.
	EBorrowNotAllowed = "borrow_not_allowed"
)

// Error is the one coded error type of Usher. Code is machine-readable and
// stable; Message tells a person what happened and what to do about it.
type Error struct {
	Code    string
	Message string
}

// Error returns the message, or the code when there is no message.
func (e *Error) Error() string {
	if e.Message == "" {
		return e.Code
	}
	return e.Message
}

// Is reports whether target is an *Error with the same code, so that
// errors.Is(err, usher.ErrNoSeats) works for any error carrying that code.
func (e *Error) Is(target error) bool {
	var t *Error
	if !errors.As(target, &t) {
		return false
	}
	return t.Code == e.Code
}

// Errorf returns an *Error with the given code and a formatted message.
func Errorf(code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// ErrorCode returns the code of the first *Error in err's chain, EInternal
// for any other non-nil error, and "" for nil.
func ErrorCode(err error) string {
	if err == nil {
		return ""
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return EInternal
}

// ErrorMessage returns the message of the first *Error in err's chain. Other
// errors are internal: their text is not for clients, so a generic message
// stands in for them.
func ErrorMessage(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Message
	}
	return "internal error: the server logged the details"
}

// Sentinel errors for errors.Is. They match any *Error with the same code.
var (
	ErrNoSeats           = &Error{Code: ENoSeats}
	ErrFeatureNotFound   = &Error{Code: EFeatureNotFound}
	ErrFeatureNotStarted = &Error{Code: EFeatureNotStarted}
	ErrFeatureExpired    = &Error{Code: EFeatureExpired}
	ErrLeaseNotFound     = &Error{Code: ELeaseNotFound}
	ErrLicenseNotFound   = &Error{Code: ELicenseNotFound}
	ErrLicenseInvalid    = &Error{Code: ELicenseInvalid}
	ErrLicenseExists     = &Error{Code: ELicenseExists}
	ErrInvalid           = &Error{Code: EInvalid}
	ErrUnauthorized      = &Error{Code: EUnauthorized}
	ErrForbidden         = &Error{Code: EForbidden}
	ErrRateLimited       = &Error{Code: ERateLimited}
	ErrUnavailable       = &Error{Code: EUnavailable}
)

// Sentinel errors of lease ownership and of the per-address limits.
var (
	ErrLeaseHeldElsewhere = &Error{Code: ELeaseHeldElsewhere}
	ErrTooManyLeases      = &Error{Code: ETooManyLeases}
	ErrTooManyWaiters     = &Error{Code: ETooManyWaiters}
)

// ErrBorrowNotAllowed matches EBorrowNotAllowed errors.
var ErrBorrowNotAllowed = &Error{Code: EBorrowNotAllowed}

// Sentinel errors of bound licenses.
var (
	ErrLicenseBoundElsewhere    = &Error{Code: ELicenseBoundElsewhere}
	ErrLicenseInUseElsewhere    = &Error{Code: ELicenseInUseElsewhere}
	ErrLicenseReleased          = &Error{Code: ELicenseReleased}
	ErrHardwareKeyNotAccessible = &Error{Code: EHardwareKeyNotAccessible}
)

// Sentinel errors of trust in a server and of its clock.
var (
	ErrUntrustedServer = &Error{Code: EUntrustedServer}
	ErrClockSkew       = &Error{Code: EClockSkew}
	ErrClockTampered   = &Error{Code: EClockTampered}
)
