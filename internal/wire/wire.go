// Package wire is the Usher HTTP API v1 as it crosses the network: the
// request and response bodies, the error body and the status of each
// error code, and the paths of the endpoints. The server (httpapi), the
// Go SDK (client) and the CLI all speak it, so a field is declared once.
// It depends only on the standard library and the root package.
package wire

import (
	"encoding/json"
	"net/http"
	"strconv"
	"time"

	usher "github.com/usher-lm/usher"
)

// Codes of requests that match no route.
const (
	ENotFound         = "not_found"          // no such path
	EMethodNotAllowed = "method_not_allowed" // the path exists, the method does not
)

// codeStatus maps every error code to its HTTP status. It is the single
// place where error codes meet HTTP.
var codeStatus = map[string]int{
	usher.ENoSeats:            http.StatusConflict,
	usher.EFeatureNotFound:    http.StatusNotFound,
	usher.EFeatureNotStarted:  http.StatusForbidden,
	usher.EFeatureExpired:     http.StatusForbidden,
	usher.ELeaseNotFound:      http.StatusNotFound,
	usher.ELeaseHeldElsewhere: http.StatusConflict,
	usher.ETooManyLeases:      http.StatusTooManyRequests,
	usher.ETooManyWaiters:     http.StatusTooManyRequests,
	usher.ELicenseNotFound:    http.StatusNotFound,
	usher.ELicenseInvalid:     http.StatusUnprocessableEntity,
	usher.ELicenseExists:      http.StatusConflict,
	usher.EInvalid:            http.StatusBadRequest,
	usher.EUnauthorized:       http.StatusUnauthorized,
	usher.EForbidden:          http.StatusForbidden,
	usher.ERateLimited:        http.StatusTooManyRequests,
	usher.EUnavailable:        http.StatusServiceUnavailable,
	usher.EInternal:           http.StatusInternalServerError,
	usher.EUserNotFound:       http.StatusNotFound,
	usher.EUserExists:         http.StatusConflict,
	usher.ETokenNotFound:      http.StatusNotFound,
	usher.ETokenExists:        http.StatusConflict,
	usher.EWrongPassword:      http.StatusForbidden,
	usher.EBanned:             http.StatusForbidden,
	usher.EBanNotFound:        http.StatusNotFound,
	usher.EPolicyDenied:       http.StatusForbidden,
	ENotFound:                 http.StatusNotFound,
	EMethodNotAllowed:         http.StatusMethodNotAllowed,

	usher.ELicenseBoundElsewhere:    http.StatusForbidden,
	usher.ELicenseInUseElsewhere:    http.StatusConflict,
	usher.ELicenseReleased:          http.StatusConflict,
	usher.EHardwareKeyNotAccessible: http.StatusBadRequest,
	usher.EClockTampered:            http.StatusForbidden,
	usher.EUntrustedServer:          http.StatusBadGateway, // made by the SDK, never sent
	usher.EClockSkew:                http.StatusBadGateway, // made by the SDK, never sent

	usher.ELicenseeSecretMismatch: http.StatusForbidden,
	usher.ELicenseeSecretRequired: http.StatusForbidden,
	usher.ESecretNotBound:         http.StatusNotFound,
	usher.EUnbindInvalid:          http.StatusUnprocessableEntity,
	usher.EUserNotRegistered:      http.StatusForbidden,
	usher.ETooManyUsers:           http.StatusConflict,
	usher.EConsumptionExhausted:   http.StatusConflict,

	usher.EBorrowNotAllowed: http.StatusForbidden,
	usher.EWebhookNotFound:  http.StatusNotFound,
}

// StatusOf returns the HTTP status for an error code: 500 for a code it
// does not know.
func StatusOf(code string) int {
	if s, ok := codeStatus[code]; ok {
		return s
	}
	return http.StatusInternalServerError
}

// ErrorBody is the JSON shape of every error response.
type ErrorBody struct {
	Code    string `json:"code"`
	Message string `json:"message"`
	Status  int    `json:"status"`
}

// ErrorBodyOf returns the body that answers err. Errors without a code
// are internal: their text is not for clients, and a generic message
// stands in for it.
func ErrorBodyOf(err error) ErrorBody {
	code := usher.ErrorCode(err)
	return ErrorBody{Code: code, Message: usher.ErrorMessage(err), Status: StatusOf(code)}
}

// DecodeError turns the body of an error answer (status 400 or more) from
// server into an *usher.Error with the server's code and message. An answer
// that is not an Usher error body (a proxy's page, another service) is
// EUnavailable: that server cannot serve the request, another may.
func DecodeError(server, status string, data []byte) *usher.Error {
	var e ErrorBody
	if json.Unmarshal(data, &e) != nil || e.Code == "" {
		return usher.Errorf(usher.EUnavailable, "%s answered %s without an Usher error: check that it is an Usher server", server, status)
	}
	return &usher.Error{Code: e.Code, Message: e.Message}
}

// FormatDuration writes d in seconds to the millisecond, as "60s" or
// "1.5s": the form of the durations in API bodies.
func FormatDuration(d time.Duration) string {
	return strconv.FormatFloat(d.Round(time.Millisecond).Seconds(), 'f', -1, 64) + "s"
}
